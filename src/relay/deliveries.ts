/**
 * The webhook requests this relay answered, kept in memory for the console's live feed: each one's headers, exact
 * body, signature check and answer. Bounded by count and by bytes (a 3 MiB body is kept cut, its length noted), so
 * the hot path costs one object per request and the relay's memory does not grow with traffic. What is stored for
 * good (messages, statuses) is in the database; this is the inspector's view of the wire.
 */

export type DeliveryKind = 'message' | 'status' | 'template' | 'account' | 'ignored' | 'rejected' | 'handshake' | 'error';

export type SignatureCheck = 'valid' | 'missing' | 'malformed' | 'mismatch' | 'not_checked';

export interface DeliveryRecord {
  id: number;
  /** When it was answered (epoch milliseconds: no date is formatted on the hot path). */
  atMs: number;
  method: string;
  /** The path and query, the verify token blanked. */
  url: string;
  integrationId: string | null;
  kind: DeliveryKind;
  /** Why it was rejected or ignored, or what it carried ("2 messages, 1 status"). */
  summary: string;
  signature: SignatureCheck;
  headers: Record<string, string>;
  /** The body as received (cut at MAX_KEPT_BODY bytes: see bodyBytes). */
  body: Buffer;
  bodyBytes: number;
  /** The numbers (phone_number_id) and senders it names, and its text, for filters. */
  numbers: string[];
  status: number;
  answer: string;
}

/** What the webhook route learns while it handles a request, read when it answers. */
export interface DeliveryNote {
  integrationId: string | null;
  signature: SignatureCheck;
  kind: DeliveryKind | null;
  summary: string;
  numbers: string[];
}

export interface DeliveryFilter {
  kind?: string | undefined;
  number?: string | undefined;
  text?: string | undefined;
}

export const MAX_KEPT_BODY = 256 * 1024;
const HIDDEN_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);

export class DeliveryLog {
  private readonly records: DeliveryRecord[] = [];
  private bytes = 0;
  private nextId = 1;
  private readonly listeners = new Set<(record: DeliveryRecord) => void>();
  /** Requests per minute (epoch minute → count), the last hour's worth. */
  private readonly minutes = new Map<number, number>();
  private minute = 0;

  constructor(
    private readonly capacity = 1000,
    private readonly maxBytes = 32 * 1024 * 1024,
  ) {}

  /**
   * One object per request on the hot path: the request's own headers object and body are kept as they are (a copy
   * only when a credentials header must be blanked, the body cut only when over MAX_KEPT_BODY).
   */
  add(entry: Omit<DeliveryRecord, 'id' | 'bodyBytes' | 'headers'> & { headers: Record<string, unknown> }): DeliveryRecord {
    const body = entry.body.length > MAX_KEPT_BODY ? Buffer.from(entry.body.subarray(0, MAX_KEPT_BODY)) : entry.body;
    const record: DeliveryRecord = {
      id: this.nextId++,
      atMs: entry.atMs,
      method: entry.method,
      url: entry.url.includes('?') ? withoutVerifyToken(entry.url) : entry.url,
      integrationId: entry.integrationId,
      kind: entry.kind,
      summary: entry.summary,
      signature: entry.signature,
      headers: keptHeaders(entry.headers),
      body,
      bodyBytes: entry.body.length,
      numbers: entry.numbers,
      status: entry.status,
      answer: entry.answer,
    };
    this.records.push(record);
    this.bytes += body.length;
    while (this.records.length > this.capacity || (this.bytes > this.maxBytes && this.records.length > 1)) {
      this.bytes -= this.records.shift()!.body.length;
    }
    const minute = Math.floor(record.atMs / 60_000);
    this.minutes.set(minute, (this.minutes.get(minute) ?? 0) + 1);
    if (minute !== this.minute) {
      this.minute = minute;
      for (const old of this.minutes.keys()) if (old < minute - 60) this.minutes.delete(old);
    }
    for (const listener of this.listeners) listener(record);
    return record;
  }

  get(id: number): DeliveryRecord | undefined {
    return this.records.find((r) => r.id === id);
  }

  /** Newest first, before the id given, matching the filter. */
  list(filter: DeliveryFilter & { before?: number | undefined; limit: number }): DeliveryRecord[] {
    const found: DeliveryRecord[] = [];
    for (let i = this.records.length - 1; i >= 0 && found.length < filter.limit; i--) {
      const record = this.records[i]!;
      if (filter.before !== undefined && record.id >= filter.before) continue;
      if (matches(record, filter)) found.push(record);
    }
    return found;
  }

  /** Requests per minute for the `count` minutes up to `now`, oldest first. */
  perMinute(now: Date, count = 30): Array<{ minute: number; n: number }> {
    const last = Math.floor(now.getTime() / 60_000);
    return Array.from({ length: count }, (_, i) => last - count + 1 + i).map((minute) => ({ minute, n: this.minutes.get(minute) ?? 0 }));
  }

  subscribe(listener: (record: DeliveryRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export function matches(record: DeliveryRecord, filter: DeliveryFilter): boolean {
  if (filter.kind && record.kind !== filter.kind) return false;
  if (filter.number) {
    const digits = filter.number.replace(/[^\dA-Za-z.]/g, '');
    if (!record.numbers.some((n) => n.includes(digits))) return false;
  }
  if (filter.text) {
    const needle = filter.text.toLowerCase();
    if (!record.body.toString('utf8').toLowerCase().includes(needle) && !record.summary.toLowerCase().includes(needle)) return false;
  }
  return true;
}

/** Node's headers object itself (its values are strings for a request), or a copy with credentials blanked. */
function keptHeaders(headers: Record<string, unknown>): Record<string, string> {
  let plain = true;
  for (const name in headers) if (typeof headers[name] !== 'string' || HIDDEN_HEADERS.has(name)) plain = false;
  if (plain) return headers as Record<string, string>;
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    kept[name] = HIDDEN_HEADERS.has(name) ? '…' : Array.isArray(value) ? value.join(', ') : String(value);
  }
  return kept;
}

/** The URL with every `hub.verify_token` value blanked, however its name is spelled (`hub%2Everify_token`, twice). */
function withoutVerifyToken(url: string): string {
  const at = url.indexOf('?');
  const parts = url.slice(at + 1).split('&').map((part) => {
    const eq = part.indexOf('=');
    const name = eq === -1 ? part : part.slice(0, eq);
    let decoded = name;
    try {
      decoded = decodeURIComponent(name.replace(/\+/g, ' '));
    } catch {
      // (a malformed escape: compared as written)
    }
    return decoded === 'hub.verify_token' ? `${name}=…` : part;
  });
  return `${url.slice(0, at)}?${parts.join('&')}`;
}
