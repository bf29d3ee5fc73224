import {
  asInteraction,
  interactionSeq,
  NEWEST_FIRST,
  toContact,
  toInteraction,
  toWebhookError,
  type ContactRow,
  type InteractionRow,
} from '../../repos/inbox.js';
import type { InboxRepo, IngestJob, IngestOutcome, Interaction, NewInteraction } from '../../types.js';
import type { PgDatabase, PgQueryable } from '../db.js';
import { queueStatusDocs, recordChange } from './changes.js';
import { recordStatuses } from './statuses.js';

/** Deadlock and serialization failures: the whole batch is one transaction, so it is safe to run it again. */
const RETRYABLE = new Set(['40P01', '40001']);
const ATTEMPTS = 5;

export function createInboxRepo(db: PgDatabase): InboxRepo {
  return {
    async ingest(jobs) {
      // Two relays' batches may insert the same wamids in opposite orders; the server then aborts one of them
      // (deadlock detected), which is simply run again: by then the other's rows are there and count as duplicates.
      for (let attempt = 1; ; attempt += 1) {
        try {
          return await db.tx((client) => ingestBatch(client, jobs));
        } catch (error) {
          if (attempt >= ATTEMPTS || !RETRYABLE.has(String((error as { code?: unknown }).code))) throw error;
        }
      }
    },
    async lastInboundAt(integrationId, contactId) {
      const row = await db.get<{ t: string | null }>(
        `SELECT MAX(t) AS t FROM (
           SELECT last_inbound_at AS t FROM contacts WHERE integration_id = $1 AND contact_id = $2
           UNION ALL
           SELECT last_inbound_at FROM contacts WHERE integration_id = $1 AND user_id = $2) AS found`,
        [integrationId, contactId],
      );
      return row?.t ?? undefined;
    },
    async listInteractions({ workspaceId, from, since, limit }) {
      const params: unknown[] = [workspaceId];
      const where = ['workspace_id = $1'];
      if (from) where.push(`from_id = $${params.push(from)}`);
      if (since) where.push(`received_at >= $${params.push(since)}`);
      const rows = await db.all<InteractionRow>(
        `SELECT * FROM interactions WHERE ${where.join(' AND ')} ORDER BY ${NEWEST_FIRST(from)} LIMIT $${params.push(limit)}`,
        params,
      );
      return rows.map(toInteraction);
    },
    async findByWamid(integrationId, wamid) {
      const row = await db.get<InteractionRow>('SELECT * FROM interactions WHERE integration_id = $1 AND wamid = $2', [
        integrationId,
        wamid,
      ]);
      return row ? toInteraction(row) : undefined;
    },
    async findInteraction(id) {
      const seq = interactionSeq(id);
      const row = seq === undefined ? undefined : await db.get<InteractionRow>('SELECT * FROM interactions WHERE seq = $1', [seq]);
      return row ? toInteraction(row) : undefined;
    },
    async listContacts(workspaceId) {
      const rows = await db.all<ContactRow>('SELECT * FROM contacts WHERE workspace_id = $1 ORDER BY last_inbound_at DESC', [
        workspaceId,
      ]);
      return rows.map(toContact);
    },
    async listWebhookErrors(workspaceId, limit) {
      const rows = await db.all('SELECT * FROM webhook_errors WHERE workspace_id = $1 ORDER BY id DESC LIMIT $2', [workspaceId, limit]);
      return rows.map(toWebhookError);
    },
    async purgeIntegration(integrationId) {
      return db.tx(async (client) => {
        await client.query(
          'DELETE FROM dispatch_events WHERE interaction_seq IN (SELECT seq FROM interactions WHERE integration_id = $1)',
          [integrationId],
        );
        const { rowCount } = await client.query('DELETE FROM interactions WHERE integration_id = $1', [integrationId]);
        for (const table of ['contacts', 'message_statuses', 'outbound_messages', 'webhook_errors', 'media']) {
          await client.query(`DELETE FROM ${table} WHERE integration_id = $1`, [integrationId]);
        }
        return rowCount ?? 0;
      });
    },
  };
}

const emptyOutcome = (): IngestOutcome => ({
  stored: [],
  duplicates: 0,
  statusesStored: 0,
  errorsStored: 0,
  changesStored: 0,
  eventsQueued: false,
  events: [],
});

/** One job of the batch and the outcome being filled in for it. */
interface Slot {
  job: IngestJob;
  outcome: IngestOutcome;
}

/**
 * The batch in one transaction, with the outcome per job that SQLite's one-job-after-another gives. Messages and
 * statuses of many jobs go in a few multi-row statements; a job with changes (edits, echoes, templates…) ends a run
 * of jobs, because its changes may touch what the jobs before it stored and must not see what later ones store.
 */
async function ingestBatch(client: PgQueryable, jobs: IngestJob[]): Promise<IngestOutcome[]> {
  const slots: Slot[] = jobs.map((job) => ({ job, outcome: emptyOutcome() }));
  let start = 0;
  for (let i = 0; i < slots.length; i += 1) {
    const { job, outcome } = slots[i]!;
    const changes = job.changes ?? [];
    if (changes.length === 0 && i < slots.length - 1) continue;
    const run = slots.slice(start, i + 1);
    start = i + 1;
    await storeMessages(client, run);
    await storeStatuses(client, run);
    for (const change of changes) {
      if (await recordChange(client, job, change)) outcome.changesStored += 1;
      if (change.forward) outcome.eventsQueued = true;
    }
  }
  await storeRawDeliveries(client, slots);
  await storeErrors(client, slots);
  return slots.map((slot) => slot.outcome);
}

interface Candidate {
  slot: Slot;
  message: NewInteraction;
}

/**
 * The run's messages in one INSERT … ON CONFLICT DO NOTHING: the unique index on (integration_id, wamid) decides what
 * is new, also against another relay inserting the same delivery at the same moment. The same wamid twice in the
 * run is one candidate (the first); the rest count as duplicates, as they would one by one. Then the senders'
 * contacts, the media rows and the dispatch events of what was stored, one statement each.
 */
async function storeMessages(client: PgQueryable, run: Slot[]): Promise<void> {
  const candidates = new Map<string, Candidate>();
  const order: Array<{ slot: Slot; message: NewInteraction; key: string; first: boolean }> = [];
  for (const slot of run) {
    for (const message of slot.job.messages) {
      const key = `${message.integrationId}\u0000${message.wamid}`;
      const first = !candidates.has(key);
      if (first) candidates.set(key, { slot, message });
      order.push({ slot, message, key, first });
    }
  }
  if (order.length === 0) return;
  const list = [...candidates.values()];
  const column = <T>(pick: (c: Candidate) => T) => list.map(pick);
  const { rows } = await client.query<{ seq: number; integration_id: string; wamid: string }>(
    `INSERT INTO interactions (workspace_id, integration_id, wamid, phone_number_id, from_id, from_kind, contact_name,
       user_id, parent_user_id, type, text, media_id, reply_to, sent_at, received_at, raw)
     SELECT workspace_id, integration_id, wamid, phone_number_id, from_id, from_kind, contact_name, user_id,
            parent_user_id, type, text, media_id, reply_to, sent_at, received_at, raw
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                   $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
                   $16::text[]) WITH ORDINALITY
            AS t(workspace_id, integration_id, wamid, phone_number_id, from_id, from_kind, contact_name, user_id,
                 parent_user_id, type, text, media_id, reply_to, sent_at, received_at, raw, ord)
      ORDER BY ord
     ON CONFLICT (integration_id, wamid) DO NOTHING
     RETURNING seq, integration_id, wamid`,
    [
      column((c) => c.slot.job.workspaceId),
      column((c) => c.message.integrationId),
      column((c) => c.message.wamid),
      column((c) => c.message.phoneNumberId),
      column((c) => c.message.from),
      column((c) => c.message.fromKind),
      column((c) => c.message.contactName),
      column((c) => c.message.userId),
      column((c) => c.message.parentUserId),
      column((c) => c.message.type),
      column((c) => c.message.text),
      column((c) => c.message.mediaId),
      column((c) => c.message.replyTo),
      column((c) => c.message.timestamp),
      column((c) => c.slot.job.receivedAt),
      column((c) => JSON.stringify(c.message.raw)),
    ],
  );
  const seqOf = new Map(rows.map((row) => [`${row.integration_id}\u0000${row.wamid}`, row.seq]));

  const stored: Array<{ slot: Slot; message: NewInteraction; seq: number }> = [];
  for (const { slot, message, key, first } of order) {
    const seq = seqOf.get(key);
    if (seq === undefined || !first) {
      slot.outcome.duplicates += 1;
      continue;
    }
    slot.outcome.stored.push(asInteraction(slot.job, message, seq));
    if (slot.job.enqueueDispatch) slot.outcome.events.push(seq);
    stored.push({ slot, message, seq });
  }
  if (stored.length === 0) return;
  await upsertContacts(client, stored);
  await insertMedia(client, stored);
  await insertEvents(client, stored.filter((s) => s.slot.job.enqueueDispatch));
}


interface ContactUpdate {
  integrationId: string;
  contactId: string;
  kind: string;
  workspaceId: string;
  name: string | null;
  userId: string | null;
  parentUserId: string | null;
  firstSeenAt: string;
  lastInboundAt: string;
  messages: number;
}

/**
 * Each sender's contacts row, counted by the messages stored: one upsert per contact (a row may be changed once per
 * statement), folded as the one-by-one upserts would be (the latest name, the earliest and latest times), in key
 * order so that two relays lock contacts in the same order.
 */
async function upsertContacts(client: PgQueryable, stored: Array<{ slot: Slot; message: NewInteraction }>): Promise<void> {
  const contacts = new Map<string, ContactUpdate>();
  for (const { slot, message } of stored) {
    const key = `${message.integrationId}\u0000${message.from}`;
    const seen = contacts.get(key);
    if (!seen) {
      contacts.set(key, {
        integrationId: message.integrationId,
        contactId: message.from,
        kind: message.fromKind,
        workspaceId: slot.job.workspaceId,
        name: message.contactName,
        userId: message.userId,
        parentUserId: message.parentUserId,
        firstSeenAt: message.timestamp,
        lastInboundAt: message.timestamp,
        messages: 1,
      });
      continue;
    }
    seen.name = message.contactName ?? seen.name;
    seen.userId = message.userId ?? seen.userId;
    seen.parentUserId = message.parentUserId ?? seen.parentUserId;
    if (message.timestamp < seen.firstSeenAt) seen.firstSeenAt = message.timestamp;
    if (message.timestamp > seen.lastInboundAt) seen.lastInboundAt = message.timestamp;
    seen.messages += 1;
  }
  const list = [...contacts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, c]) => c);
  const column = <T>(pick: (c: ContactUpdate) => T) => list.map(pick);
  await client.query(
    `INSERT INTO contacts (integration_id, contact_id, kind, workspace_id, name, user_id, parent_user_id, first_seen_at,
       last_inbound_at, messages)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                          $8::text[], $9::text[], $10::int[])
     ON CONFLICT (integration_id, contact_id) DO UPDATE SET
       name = COALESCE(excluded.name, contacts.name),
       user_id = COALESCE(excluded.user_id, contacts.user_id),
       parent_user_id = COALESCE(excluded.parent_user_id, contacts.parent_user_id),
       first_seen_at = LEAST(contacts.first_seen_at, excluded.first_seen_at),
       last_inbound_at = GREATEST(contacts.last_inbound_at, excluded.last_inbound_at),
       messages = contacts.messages + excluded.messages`,
    [
      column((c) => c.integrationId),
      column((c) => c.contactId),
      column((c) => c.kind),
      column((c) => c.workspaceId),
      column((c) => c.name),
      column((c) => c.userId),
      column((c) => c.parentUserId),
      column((c) => c.firstSeenAt),
      column((c) => c.lastInboundAt),
      column((c) => c.messages),
    ],
  );
}

/** The media a stored message carries: a row that says it is wanted (fetched after the 200, relay/media.ts). */
async function insertMedia(client: PgQueryable, stored: Array<{ slot: Slot; message: NewInteraction; seq: number }>): Promise<void> {
  const list = stored.filter((s) => s.message.media);
  if (list.length === 0) return;
  await client.query(
    `INSERT INTO media (integration_id, media_id, workspace_id, interaction_seq, direction, state, mime_type, caption,
       filename, next_attempt_at, created_at, updated_at)
     SELECT integration_id, media_id, workspace_id, interaction_seq, 'in', 'pending', mime_type, caption, filename,
            received_at, received_at, received_at
       FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[])
            WITH ORDINALITY
            AS t(integration_id, media_id, workspace_id, interaction_seq, mime_type, caption, filename, received_at, ord)
      ORDER BY ord
     ON CONFLICT (integration_id, media_id) DO NOTHING`,
    [
      list.map((s) => s.message.integrationId),
      list.map((s) => s.message.media!.id),
      list.map((s) => s.slot.job.workspaceId),
      list.map((s) => s.seq),
      list.map((s) => s.message.media!.mimeType),
      list.map((s) => s.message.media!.caption),
      list.map((s) => s.message.media!.filename),
      list.map((s) => s.slot.job.receivedAt),
    ],
  );
}

/** A dispatch event per stored message, due at once, for the user's code. */
async function insertEvents(client: PgQueryable, list: Array<{ slot: Slot; seq: number }>): Promise<void> {
  if (list.length === 0) return;
  await client.query(
    `INSERT INTO dispatch_events (interaction_seq, workspace_id, state, next_attempt_at, created_at)
     SELECT seq, workspace_id, 'pending', received_at, received_at
       FROM unnest($1::bigint[], $2::text[], $3::text[]) AS t(seq, workspace_id, received_at)
     ON CONFLICT (interaction_seq) DO NOTHING`,
    [list.map((s) => s.seq), list.map((s) => s.slot.job.workspaceId), list.map((s) => s.slot.job.receivedAt)],
  );
}

/** The run's statuses (two statements for all of them) and, for the new ones that carry one, their documents. */
async function storeStatuses(client: PgQueryable, run: Slot[]): Promise<void> {
  const items = run.flatMap((slot) => slot.job.statuses.map((status) => ({ slot, status, receivedAt: slot.job.receivedAt })));
  if (items.length === 0) return;
  const stored = await recordStatuses(client, items);
  const docs: Parameters<typeof queueStatusDocs>[1] = [];
  items.forEach(({ slot, status }, i) => {
    if (!stored[i]) return;
    slot.outcome.statusesStored += 1;
    if (status.forwardDoc) {
      docs.push({ job: slot.job, integrationId: status.integrationId, doc: status.forwardDoc });
      slot.outcome.eventsQueued = true;
    }
  });
  await queueStatusDocs(client, docs);
}

/** --forward-raw: Meta's exact bytes and signature, queued for the user's code. */
async function storeRawDeliveries(client: PgQueryable, slots: Slot[]): Promise<void> {
  const list = slots.filter((slot) => slot.job.raw);
  if (list.length === 0) return;
  await client.query(
    `INSERT INTO raw_deliveries (workspace_id, integration_id, body, signature, received_at, forward_state, next_attempt_at)
     SELECT workspace_id, integration_id, body, signature, received_at, 'pending', received_at
       FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::text[]) WITH ORDINALITY
            AS t(workspace_id, integration_id, body, signature, received_at, ord)
      ORDER BY ord`,
    [
      list.map((s) => s.job.workspaceId),
      list.map((s) => s.job.raw!.integrationId),
      list.map((s) => s.job.raw!.body),
      list.map((s) => s.job.raw!.signature),
      list.map((s) => s.job.receivedAt),
    ],
  );
  for (const slot of list) slot.outcome.eventsQueued = true;
}

/** Meta's webhook-level errors (`value.errors[]`). */
async function storeErrors(client: PgQueryable, slots: Slot[]): Promise<void> {
  const list = slots.flatMap((slot) => (slot.job.errors ?? []).map((error) => ({ slot, error })));
  if (list.length === 0) return;
  await client.query(
    `INSERT INTO webhook_errors (workspace_id, integration_id, phone_number_id, code, title, message, details,
       received_at, raw)
     SELECT workspace_id, integration_id, phone_number_id, code, title, message, details, received_at, raw
       FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[], $8::text[],
                   $9::text[]) WITH ORDINALITY
            AS t(workspace_id, integration_id, phone_number_id, code, title, message, details, received_at, raw, ord)
      ORDER BY ord`,
    [
      list.map((e) => e.slot.job.workspaceId),
      list.map((e) => e.error.integrationId),
      list.map((e) => e.error.phoneNumberId),
      list.map((e) => e.error.code),
      list.map((e) => e.error.title),
      list.map((e) => e.error.message),
      list.map((e) => e.error.details),
      list.map((e) => e.slot.job.receivedAt),
      list.map((e) => JSON.stringify(e.error.raw)),
    ],
  );
  for (const { slot } of list) slot.outcome.errorsStored += 1;
}
