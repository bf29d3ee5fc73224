/**
 * Control characters (C0, DEL, C1) and bidirectional overrides: text from outside (a contact's name, Meta's names for
 * a number) could use them to drive a terminal. `cli/table.ts` shows them as `\u…`; stored names leave them out.
 * (Global: use it with `replace` or `search`, which do not keep its position.)
 */
export const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * A time in a sentence the services write (an error, a check's detail), for a person: `2026-12-04 01:40:21 UTC`.
 * Commands show times in local time themselves (cli/time.ts); a message built below them says UTC, plainly.
 */
export function utcText(iso: string | null | undefined): string {
  const date = iso ? new Date(iso) : undefined;
  if (!date || Number.isNaN(date.getTime())) return String(iso ?? '');
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}
