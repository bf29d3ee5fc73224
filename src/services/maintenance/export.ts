import type { Interaction } from '../../store/types.js';
import type { ServiceDeps } from '../deps.js';

export type ExportFormat = 'csv' | 'ndjson';

/** The CSV's columns, in order (the raw payload is only in NDJSON). */
export const CSV_COLUMNS = [
  'id',
  'received_at',
  'timestamp',
  'integration_id',
  'wamid',
  'from',
  'from_kind',
  'contact_name',
  'user_id',
  'type',
  'text',
  'media_id',
  'reply_to',
] as const;

function csvCell(value: string | null): string {
  if (value === null) return '';
  return /[",\r\n]/.test(value) || value !== value.trim() ? `"${value.replace(/"/g, '""')}"` : value;
}

/**
 * A stranger's text that a spreadsheet would run as a formula (`=HYPERLINK(…)`, `+…`, `-…`, `@…`) starts with a `'`
 * instead, as OWASP advises for CSV files: shown as written, never evaluated.
 */
function inert(value: string | null): string | null {
  return value !== null && /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

function csvRow(i: Interaction): string {
  const values = [i.id, i.receivedAt, i.timestamp, i.integrationId, i.wamid, i.from, i.fromKind, inert(i.contactName), i.userId, i.type, inert(i.text), i.mediaId, i.replyTo];
  return `${values.map(csvCell).join(',')}\r\n`;
}

/**
 * Writes the workspace's inbound messages, oldest first, as CSV (RFC 4180, a header row) or NDJSON (one interaction
 * a line, raw payload included), one row at a time: any number of messages in constant memory. Returns how many.
 */
export async function exportMessages(
  deps: Pick<ServiceDeps, 'store'>,
  request: { workspaceId: string; format: ExportFormat; since?: string | undefined; from?: string | undefined },
  write: (chunk: string) => Promise<void> | void,
): Promise<number> {
  if (request.format === 'csv') await write(`${CSV_COLUMNS.join(',')}\r\n`);
  let count = 0;
  for await (const interaction of deps.store.maintenance.interactions(request)) {
    await write(request.format === 'csv' ? csvRow(interaction) : `${JSON.stringify(interaction)}\n`);
    count += 1;
  }
  return count;
}
