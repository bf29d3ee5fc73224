/** Values of flags read from the command line: ports, durations, limits, senders. */
import { UsageError } from '../errors.js';

export function parsePort(value: string, flag = '--port'): number {
  const port = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`${flag} must be a number from 0 to 65535; got "${value}".`);
  }
  return port;
}

/** `--since 30m | 1h | 2d | 1w | <ISO date>` → an ISO timestamp. */
export function parseSince(value: string, now: Date): string {
  const match = /^(\d+)\s*(s|m|h|d|w)$/.exec(value.trim());
  if (match) {
    const unit = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }[match[2] as 's' | 'm' | 'h' | 'd' | 'w'];
    return new Date(now.getTime() - Number(match[1]) * unit * 1000).toISOString();
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) {
    throw new UsageError(`--since takes a duration like 30m, 1h, 2d or a date; got "${value}".`);
  }
  return date.toISOString();
}

export function parseLimit(value: string, flag = '--limit', max = 10_000): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > max) {
    throw new UsageError(`${flag} must be a whole number from 1 to ${max}; got "${value}".`);
  }
  return n;
}

/** A phone number as digits (what Meta's `from`/`wa_id` carry): "+1 555-010-4242" → "15550104242". */
export function normalizeSender(value: string): string {
  const trimmed = value.trim();
  return /^\+?[\d\s().-]+$/.test(trimmed) ? trimmed.replace(/\D/g, '') : trimmed;
}
