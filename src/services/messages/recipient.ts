import { UsageError } from '../../errors.js';

/**
 * A recipient as Meta wants it: the E.164 digits without "+". Spaces, dashes, dots, brackets and a leading "+"
 * (or "00") are allowed on input: "+1 (555) 123-4567" → "15551234567".
 */
export function normalizeRecipient(input: string): string {
  const trimmed = input.trim();
  if (!/^(\+|00)?[\d\s().-]+$/.test(trimmed)) throw badNumber(input);
  const digits = trimmed.replace(/^00/, '').replace(/\D/g, '');
  // E.164: a country code and at most 15 digits in all; shorter than 8 is not a mobile number anywhere.
  if (digits.length < 8 || digits.length > 15 || digits.startsWith('0')) throw badNumber(input);
  return digits;
}

function badNumber(input: string): UsageError {
  return new UsageError(
    `"${input}" is not a phone number in international format.`,
    'Give the country code and number, e.g. +15551234567 (spaces and dashes are fine).',
  );
}
