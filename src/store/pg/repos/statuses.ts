import { STATUS_RANK_SQL, statusRank } from '../../repos/statuses.js';
import type { NewStatus } from '../../types.js';
import type { PgQueryable } from '../db.js';

/** A status as the inbox hands it over: which job it came with, and when that job was received. */
export interface StatusItem {
  status: NewStatus;
  receivedAt: string;
}

/**
 * Status webhooks for messages lumen sent, on PostgreSQL, inside the inbox's transaction: each (number, wamid, status)
 * kept once (the primary key decides), and each message's state moved forward only. A batch costs two statements: one
 * INSERT … ON CONFLICT DO NOTHING for all of them, one UPDATE for every message they touch.
 * Returns, per item, whether it was stored (false: a redelivery, or the same status earlier in the batch).
 */
export async function recordStatuses(client: PgQueryable, items: StatusItem[]): Promise<boolean[]> {
  const stored = items.map(() => false);
  if (items.length === 0) return stored;
  // The first of equal (number, wamid, status) in the batch is the one stored, as when applied one by one.
  const firstOf = new Map<string, number>();
  items.forEach(({ status }, i) => {
    const key = `${status.integrationId}\u0000${status.wamid}\u0000${status.status}`;
    if (!firstOf.has(key)) firstOf.set(key, i);
  });
  const candidates = [...firstOf.values()];
  // A status and Meta's answer to the send (outbound.markAccepted records its wamid) may be written at the same moment
  // by two transactions that cannot see each other: both take the wamid's lock first, so the later one sees the other.
  await lockWamids(client, [...new Set(items.map((item) => item.status.wamid))]);
  const column = <T>(pick: (item: StatusItem) => T) => candidates.map((i) => pick(items[i]!));
  const { rows } = await client.query<{ integration_id: string; wamid: string; status: string }>(
    `INSERT INTO message_statuses (wamid, status, integration_id, recipient_id, occurred_at, error_code, error_title,
       error_details, received_at, raw)
     SELECT wamid, status, integration_id, recipient_id, occurred_at, error_code, error_title, error_details,
            received_at, raw
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[],
                   $9::text[], $10::text[]) WITH ORDINALITY
            AS t(wamid, status, integration_id, recipient_id, occurred_at, error_code, error_title, error_details,
                 received_at, raw, ord)
      ORDER BY ord
     ON CONFLICT (integration_id, wamid, status) DO NOTHING
     RETURNING integration_id, wamid, status`,
    [
      column((s) => s.status.wamid),
      column((s) => s.status.status),
      column((s) => s.status.integrationId),
      column((s) => s.status.recipientId),
      column((s) => s.status.timestamp),
      column((s) => s.status.errorCode),
      column((s) => s.status.errorTitle),
      column((s) => s.status.errorDetails),
      column((s) => s.receivedAt),
      column((s) => JSON.stringify(s.status.raw)),
    ],
  );
  for (const row of rows) stored[firstOf.get(`${row.integration_id}\u0000${row.wamid}\u0000${row.status}`)!] = true;
  await advanceMessages(client, items.filter((_, i) => stored[i]));
  return stored;
}

interface MessageUpdate {
  integrationId: string;
  wamid: string;
  /** The status that moves the state furthest (the first of the highest rank), if any ranks. */
  winner: StatusItem | undefined;
  pricing: { model: string | null; category: string | null; type: string | null; billable: number | null };
}

/**
 * Moves each sent message's state forward to the furthest of its new statuses (applied one by one, the first to
 * reach the highest rank is the last that changes anything) and records Meta's pricing (per field, the latest that
 * says something), in one UPDATE. Ordered by wamid so two relays lock the messages in the same order.
 */
async function advanceMessages(client: PgQueryable, items: StatusItem[]): Promise<void> {
  const updates = new Map<string, MessageUpdate>();
  for (const item of items) {
    const { status } = item;
    const rank = statusRank(status.status);
    if (rank === 0 && !status.pricing) continue;
    // (A status moves only a message its own number sent.)
    const key = `${status.integrationId}\u0000${status.wamid}`;
    let update = updates.get(key);
    if (!update) {
      update = { integrationId: status.integrationId, wamid: status.wamid, winner: undefined, pricing: { model: null, category: null, type: null, billable: null } };
      updates.set(key, update);
    }
    if (rank > 0 && (!update.winner || rank > statusRank(update.winner.status.status))) update.winner = item;
    const pricing = status.pricing;
    if (pricing) {
      update.pricing = {
        model: pricing.model ?? update.pricing.model,
        category: pricing.category ?? update.pricing.category,
        type: pricing.type ?? update.pricing.type,
        billable: pricing.billable === null ? update.pricing.billable : pricing.billable ? 1 : 0,
      };
    }
  }
  if (updates.size === 0) return;
  const list = [...updates.values()].sort((a, b) => (a.wamid < b.wamid ? -1 : a.wamid > b.wamid ? 1 : 0));
  // STATUS_RANK_SQL names `state`: only the message has one (the batch's column is `status`).
  const advances = `${STATUS_RANK_SQL} < u.rank`;
  await client.query(
    `UPDATE outbound_messages AS o SET
       state = CASE WHEN ${advances} THEN u.status ELSE o.state END,
       updated_at = CASE WHEN ${advances} THEN u.received_at ELSE o.updated_at END,
       error_code = CASE WHEN ${advances} THEN COALESCE(u.error_code, o.error_code) ELSE o.error_code END,
       error_title = CASE WHEN ${advances} THEN COALESCE(u.error_title, o.error_title) ELSE o.error_title END,
       error_details = CASE WHEN ${advances} THEN COALESCE(u.error_details, o.error_details) ELSE o.error_details END,
       pricing_model = COALESCE(u.pricing_model, o.pricing_model),
       pricing_category = COALESCE(u.pricing_category, o.pricing_category),
       pricing_type = COALESCE(u.pricing_type, o.pricing_type),
       billable = COALESCE(u.billable, o.billable)
     FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::int[], $6::text[], $7::text[], $8::text[],
                 $9::text[], $10::text[], $11::int[], $12::text[])
          AS u(wamid, status, rank, received_at, error_code, error_title, error_details, pricing_model,
               pricing_category, pricing_type, billable, integration_id)
     WHERE o.wamid = u.wamid AND o.integration_id = u.integration_id`,
    [
      list.map((u) => u.wamid),
      list.map((u) => u.winner?.status.status ?? null),
      list.map((u) => (u.winner ? statusRank(u.winner.status.status) : 0)),
      list.map((u) => u.winner?.receivedAt ?? null),
      list.map((u) => u.winner?.status.errorCode ?? null),
      list.map((u) => u.winner?.status.errorTitle ?? null),
      list.map((u) => u.winner?.status.errorDetails ?? null),
      list.map((u) => u.pricing.model),
      list.map((u) => u.pricing.category),
      list.map((u) => u.pricing.type),
      list.map((u) => u.pricing.billable),
      list.map((u) => u.integrationId),
    ],
  );
}

/** The advisory lock space for wamids (the migration lock uses the one-key form, a separate space). */
const WAMID_LOCKS = 0x6c756d;

/** Takes each wamid's transaction lock, in one order everywhere (no deadlock between two batches). */
export async function lockWamids(client: PgQueryable, wamids: string[]): Promise<void> {
  if (wamids.length === 0) return;
  await client.query(
    `SELECT count(pg_advisory_xact_lock($1, hashtext(w))) FROM (SELECT w FROM unnest($2::text[]) AS w ORDER BY w COLLATE "C") AS s`,
    [WAMID_LOCKS, [...wamids].sort()],
  );
}
