/** Values of flags read from the command line: ports, durations, limits, senders. */
import { UsageError } from '../errors.js';
import { isUserId } from '../services/messages/message-types.js';
import { parseForwardRef } from '../store/repos/forward-queue.js';

export function parsePort(value: string, flag = '--port'): number {
  const port = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`${flag} must be a number from 0 to 65535; got "${value}".`);
  }
  return port;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** A duration back from `now` (30m, 1h, 2d, 1w) or an ISO 8601 date (2026-12-01, 2026-12-01T09:30Z), as ISO text. */
export function parseSince(value: string, now: Date): string {
  const trimmed = value.trim();
  const refuse = () =>
    new UsageError(`--since takes a duration like 30m, 1h, 2d or a date like 2026-12-01 or 2026-12-01T09:30Z; got "${value}".`);
  const match = /^(\d+)\s*(s|m|h|d|w)$/.exec(trimmed);
  if (match) {
    const unit = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }[match[2] as 's' | 'm' | 'h' | 'd' | 'w'];
    // Longer ago than 1970 is "everything" (and a year before 0 would not print as one), however long.
    return new Date(Math.max(0, now.getTime() - Number(match[1]) * unit * 1000)).toISOString();
  }
  const iso = ISO_DATE.exec(trimmed);
  const date = new Date(trimmed);
  if (!iso || Number.isNaN(date.getTime())) throw refuse();
  // new Date() rolls 2026-02-30 over to 2 March; a day or time out of range is refused instead.
  const [year, month, day, hour = '0', minute = '0', second = '0'] = iso.slice(1);
  const calendar = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  if (
    calendar.getUTCMonth() !== Number(month) - 1 ||
    calendar.getUTCDate() !== Number(day) ||
    Number(hour) > 23 ||
    Number(minute) > 59 ||
    Number(second) > 59
  ) {
    throw refuse();
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

/**
 * A sender as stored: a phone number as digits (what Meta's `from`/`wa_id` carry), "+1 555-010-4242" → "15550104242",
 * or a username user's id as it is.
 */
export function normalizeSender(value: string, flag = '--from'): string {
  const trimmed = value.trim();
  if (/^\+?[\d\s().-]+$/.test(trimmed) && /\d/.test(trimmed)) return trimmed.replace(/\D/g, '');
  if (isUserId(trimmed)) return trimmed;
  // Nothing else is ever stored as a sender: a filter for it would find nothing, silently.
  throw new UsageError(`${flag} takes a phone number (+15551234567) or a username user's id (US.13491208655302741918); got "${value}".`);
}

/** An id from `lumen events list`: a message's delivery (`42`), an event's document (`ev_7`) or a raw delivery (`raw_3`). */
export type EventRef = { queue: 'messages'; id: number } | { queue: 'events' | 'raw'; id: number };

export function parseEventRef(value: string): EventRef {
  return parseForwardRef(value) ?? { queue: 'messages', id: parseEventId(value) };
}

/** An event id as `lumen events list` prints it: digits, `evt_` before them optional (never `1e3` or ` 7`). */
export function parseEventId(value: string): number {
  const match = /^(?:evt_)?([1-9]\d{0,15})$/.exec(value);
  const id = match ? Number(match[1]) : Number.NaN;
  if (!Number.isSafeInteger(id)) throw new UsageError(`Event id must be a number (or ev_N, raw_N) from \`lumen events list\`; got "${value}".`);
  return id;
}
