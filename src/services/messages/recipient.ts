import { parsePhoneNumberFromString, validatePhoneNumberLength } from 'libphonenumber-js';
import { UsageError } from '../../errors.js';

/**
 * A recipient as Meta wants it: the E.164 digits without "+", checked by libphonenumber-js against the country's
 * numbering plan (a known country code, a possible length for it). Spaces, dashes, dots, brackets and a leading "+"
 * (or "00", or nothing: lumen's numbers are always international) are allowed: "+44 20 7946 0958" → "442079460958".
 * Only the length is held to the plan, not whether the range is in service (Meta says that when it sends).
 */
export function normalizeRecipient(input: string): string {
  const trimmed = input.trim();
  if (!/^(\+|00)?[\d\s().-]+$/.test(trimmed)) throw badNumber(input);
  const international = `+${trimmed.replace(/^(\+|00)/, '').replace(/[\s().-]/g, '')}`;
  if (!/^\+[1-9]\d+$/.test(international)) throw badNumber(input);
  const number = parsePhoneNumberFromString(international);
  if (!number?.isPossible()) {
    // "4158675309": no country's as written, a North American number with its 1.
    const northAmerican = !/^(\+|00)/.test(trimmed) && looksNorthAmerican(international.slice(1), false);
    throw badNumber(input, validatePhoneNumberLength(international), northAmerican ? international.slice(1) : undefined);
  }
  if (!/^(\+|00)/.test(trimmed) && looksNorthAmerican(number.number.slice(1), number.isValid())) {
    // "(555) 123-4567" or "5551234567": read as international it would go to +55 (Brazil) without a word.
    const country = number.country ? ` (${regionName(number.country)})` : '';
    throw new UsageError(
      `"${input}" has no country code: as written it is +${number.countryCallingCode}${country}, where it is not a valid number.`,
      `A US or Canadian number? Write it with +1: +1 ${formatRecipient(`1${number.number.slice(1)}`).replace(/^\+1 /, '')}. Another country's? Start it with + and its code.`,
    );
  }
  return number.number.slice(1);
}

/**
 * For a number a person typed (`--to`, a CSV's `to`), not one Meta gave (a wa_id always has its country code): ten
 * digits without "+" that make a valid US or Canadian number are refused even when they are a valid number as
 * written too ("6465550100" is New York's and New Zealand's), naming both readings.
 */
export function assertCountryCode(input: string): void {
  const trimmed = input.trim();
  if (/^(\+|00)/.test(trimmed) || !/^[\d\s().-]+$/.test(trimmed)) return;
  const digits = trimmed.replace(/[\s().-]/g, '');
  if (digits.length !== 10 || parsePhoneNumberFromString(`+1${digits}`)?.isValid() !== true) return;
  const asWritten = parsePhoneNumberFromString(`+${digits}`);
  const elsewhere = asWritten?.isValid() ? ` or ${asWritten.formatInternational()}${asWritten.country ? ` (${regionName(asWritten.country)})` : ''}` : '';
  throw new UsageError(
    `"${input}" has no country code: it could be ${formatRecipient(`1${digits}`)} (US or Canada)${elsewhere}.`,
    'Write it with + and its country code.',
  );
}

/**
 * Ten digits without "+" that are no valid number as written, but would be one in North America: a US or Canadian
 * number written without its "1" (Meta's own ids always have their country code, and are valid numbers).
 */
function looksNorthAmerican(digits: string, validAsWritten: boolean): boolean {
  return digits.length === 10 && !validAsWritten && parsePhoneNumberFromString(`+1${digits}`)?.isPossible() === true;
}

function regionName(region: string): string {
  try {
    return new Intl.DisplayNames(['en'], { type: 'region' }).of(region) ?? region;
  } catch {
    return region;
  }
}

/** A number as people read it: "+44 20 7946 0958" (E.164 digits in, international format out). */
export function formatRecipient(digits: string): string {
  return parsePhoneNumberFromString(`+${digits}`)?.formatInternational() ?? `+${digits}`;
}

const PROBLEMS: Record<string, string> = {
  INVALID_COUNTRY: 'No country has that calling code.',
  TOO_SHORT: 'It is too short for its country.',
  TOO_LONG: 'It is too long for its country.',
  INVALID_LENGTH: 'It is not a possible length for its country.',
  NOT_A_NUMBER: 'It is not a number.',
};

function badNumber(input: string, problem?: string, northAmerican?: string): UsageError {
  const why = problem && PROBLEMS[problem] ? `${PROBLEMS[problem]} ` : '';
  return new UsageError(
    `"${input}" is not a phone number in international format.`,
    northAmerican
      ? `${why}A US or Canadian number? Write it with +1: ${formatRecipient(`1${northAmerican}`)}.`
      : `${why}Give the country code and number, e.g. +15551234567 or +44 20 7946 0958 (spaces and dashes are fine).`,
  );
}
