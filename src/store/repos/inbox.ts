import type { Database } from '../db.js';
import { createChangeWriter } from './changes.js';
import { createStatusWriter } from './statuses.js';
import type { Contact, InboxRepo, IngestJob, IngestOutcome, Interaction, NewInteraction, WebhookErrorRecord } from '../types.js';

export interface InteractionRow {
  seq: number;
  workspace_id: string;
  integration_id: string;
  wamid: string;
  phone_number_id: string;
  from_id: string;
  from_kind: string;
  contact_name: string | null;
  type: string;
  text: string;
  media_id: string | null;
  reply_to: string | null;
  sent_at: string;
  received_at: string;
  raw: string;
  user_id: string | null;
  parent_user_id: string | null;
  previous_texts?: string | null;
  deleted_at?: string | null;
}

/** Interaction ids are `in_<seq>`: the row's own key, so a lookup by id costs no extra index on the hot path. */
export const interactionId = (seq: number | bigint): string => `in_${seq}`;

export function interactionSeq(id: string): number | undefined {
  const match = /^in_(\d+)$/.exec(id);
  return match ? Number(match[1]) : undefined;
}

export const toInteraction = (row: InteractionRow): Interaction => ({
  id: interactionId(row.seq),
  workspaceId: row.workspace_id,
  integrationId: row.integration_id,
  channel: 'whatsapp',
  wamid: row.wamid,
  phoneNumberId: row.phone_number_id,
  from: row.from_id,
  fromKind: row.from_kind === 'user_id' ? 'user_id' : 'phone',
  contactName: row.contact_name,
  type: row.type,
  text: row.text,
  mediaId: row.media_id,
  replyTo: row.reply_to,
  timestamp: row.sent_at,
  receivedAt: row.received_at,
  raw: JSON.parse(row.raw),
  userId: row.user_id,
  parentUserId: row.parent_user_id,
  ...(row.previous_texts ? { previousTexts: JSON.parse(row.previous_texts) as Array<{ text: string; at: string }> } : {}),
  ...(row.deleted_at ? { deletedAt: row.deleted_at } : {}),
});

export interface ContactRow {
  integration_id: string;
  contact_id: string;
  kind: string;
  name: string | null;
  user_id: string | null;
  parent_user_id: string | null;
  first_seen_at: string;
  last_inbound_at: string;
  messages: number;
}

export const toContact = (row: ContactRow): Contact => ({
  integrationId: row.integration_id,
  contactId: row.contact_id,
  kind: row.kind === 'user_id' ? 'user_id' : 'phone',
  name: row.name,
  userId: row.user_id,
  parentUserId: row.parent_user_id,
  firstSeenAt: row.first_seen_at,
  lastInboundAt: row.last_inbound_at,
  messages: row.messages,
});

export const toWebhookError = (row: Record<string, unknown>): WebhookErrorRecord => ({
  id: Number(row.id),
  integrationId: String(row.integration_id),
  phoneNumberId: (row.phone_number_id as string | null) ?? null,
  code: (row.code as number | null) ?? null,
  title: (row.title as string | null) ?? null,
  message: (row.message as string | null) ?? null,
  details: (row.details as string | null) ?? null,
  receivedAt: String(row.received_at),
});

export function createInboxRepo(db: Database): InboxRepo {
  // Positional parameters: binding is measurably cheaper than named ones on this path. The UNIQUE index on
  // (integration_id, wamid) makes a redelivery a no-op: nothing in memory decides what is a duplicate.
  const insertInteraction = db.prepare(
    `INSERT INTO interactions (workspace_id, integration_id, wamid, phone_number_id, from_id, from_kind,
       contact_name, user_id, parent_user_id, type, text, media_id, reply_to, sent_at, received_at, raw)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (integration_id, wamid) DO NOTHING`,
  );
  // The sender's contacts row, in the same transaction as the message it counts.
  const upsertContact = db.prepare(
    `INSERT INTO contacts (integration_id, contact_id, kind, workspace_id, name, user_id, parent_user_id, first_seen_at,
       last_inbound_at, messages)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
     ON CONFLICT (integration_id, contact_id) DO UPDATE SET
       name = COALESCE(excluded.name, contacts.name),
       user_id = COALESCE(excluded.user_id, contacts.user_id),
       parent_user_id = COALESCE(excluded.parent_user_id, contacts.parent_user_id),
       first_seen_at = MIN(contacts.first_seen_at, excluded.first_seen_at),
       last_inbound_at = MAX(contacts.last_inbound_at, excluded.last_inbound_at),
       messages = contacts.messages + 1`,
  );
  // The file is fetched after the 200 (relay/media.ts): here only the row that says it is wanted.
  const insertMedia = db.prepare(
    `INSERT INTO media (integration_id, media_id, workspace_id, interaction_seq, direction, state, mime_type, caption,
       filename, next_attempt_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, 'in', 'pending', ?, ?, ?, ?, ?, ?)
     ON CONFLICT (integration_id, media_id) DO NOTHING`,
  );
  const insertEvent = db.prepare(
    `INSERT OR IGNORE INTO dispatch_events (interaction_seq, workspace_id, state, next_attempt_at, created_at)
     VALUES (?, ?, 'pending', ?, ?)`,
  );
  const statuses = createStatusWriter(db);
  const changes = createChangeWriter(db);
  const insertRaw = db.prepare(
    `INSERT INTO raw_deliveries (workspace_id, integration_id, body, signature, received_at, forward_state, next_attempt_at)
     VALUES (?, ?, ?, ?, ?, 'pending', ?)`,
  );
  const insertError = db.prepare(
    `INSERT INTO webhook_errors (workspace_id, integration_id, phone_number_id, code, title, message, details, received_at, raw)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );

  function storeMessage(job: IngestJob, message: NewInteraction): Interaction | undefined {
    const result = insertInteraction.run(
      job.workspaceId,
      message.integrationId,
      message.wamid,
      message.phoneNumberId,
      message.from,
      message.fromKind,
      message.contactName,
      message.userId,
      message.parentUserId,
      message.type,
      message.text,
      message.mediaId,
      message.replyTo,
      message.timestamp,
      job.receivedAt,
      JSON.stringify(message.raw),
    );
    if (result.changes === 0) return undefined;
    upsertContact.run(
      message.integrationId,
      message.from,
      message.fromKind,
      job.workspaceId,
      message.contactName,
      message.userId,
      message.parentUserId,
      message.timestamp,
      message.timestamp,
    );
    const seq = Number(result.lastInsertRowid);
    if (message.media) {
      insertMedia.run(
        message.integrationId,
        message.media.id,
        job.workspaceId,
        seq,
        message.media.mimeType,
        message.media.caption,
        message.media.filename,
        job.receivedAt,
        job.receivedAt,
        job.receivedAt,
      );
    }
    return asInteraction(job, message, seq);
  }

  const ingestAll = db.transaction((jobs: IngestJob[]): IngestOutcome[] =>
    jobs.map((job) => {
      const outcome: IngestOutcome = {
        stored: [],
        duplicates: 0,
        statusesStored: 0,
        errorsStored: 0,
        changesStored: 0,
        eventsQueued: false,
        events: [],
      };
      for (const message of job.messages) {
        const stored = storeMessage(job, message);
        if (!stored) {
          outcome.duplicates += 1;
          continue;
        }
        outcome.stored.push(stored);
        if (job.enqueueDispatch) {
          const seq = interactionSeq(stored.id)!;
          insertEvent.run(seq, job.workspaceId, job.receivedAt, job.receivedAt);
          outcome.events.push(seq);
        }
      }
      for (const status of job.statuses) {
        if (!statuses.record(status, job.receivedAt)) continue;
        outcome.statusesStored += 1;
        if (status.forwardDoc) {
          changes.queueStatus(job, status.integrationId, status.forwardDoc);
          outcome.eventsQueued = true;
        }
      }
      for (const change of job.changes ?? []) {
        if (changes.record(job, change)) outcome.changesStored += 1;
        if (change.forward) outcome.eventsQueued = true;
      }
      if (job.raw) {
        insertRaw.run(job.workspaceId, job.raw.integrationId, job.raw.body, job.raw.signature, job.receivedAt, job.receivedAt);
        outcome.eventsQueued = true;
      }
      for (const error of job.errors ?? []) {
        insertError.run(
          job.workspaceId,
          error.integrationId,
          error.phoneNumberId,
          error.code,
          error.title,
          error.message,
          error.details,
          job.receivedAt,
          JSON.stringify(error.raw),
        );
        outcome.errorsStored += 1;
      }
      return outcome;
    }),
  );

  const bySeq = db.prepare<[number], InteractionRow>('SELECT * FROM interactions WHERE seq = ?');
  const byWamid = db.prepare<[string, string], InteractionRow>('SELECT * FROM interactions WHERE integration_id = ? AND wamid = ?');
  const contacts = db.prepare<[string], ContactRow>(
    'SELECT * FROM contacts WHERE workspace_id = ? ORDER BY last_inbound_at DESC',
  );
  const lastInbound = db
    .prepare<{ integrationId: string; id: string }, string | null>(
      `SELECT MAX(t) FROM (
         SELECT last_inbound_at AS t FROM contacts WHERE integration_id = @integrationId AND contact_id = @id
         UNION ALL
         SELECT last_inbound_at FROM contacts WHERE integration_id = @integrationId AND user_id = @id)`,
    )
    .pluck();
  const errors = db.prepare<[string, number], Record<string, unknown>>(
    `SELECT * FROM webhook_errors WHERE workspace_id = ? ORDER BY id DESC LIMIT ?`,
  );

  return {
    async ingest(jobs) {
      // BEGIN IMMEDIATE: take the write lock up front, so a busy database waits (busy_timeout) instead of failing a
      // deferred transaction that read first.
      return ingestAll.immediate(jobs);
    },
    async lastInboundAt(integrationId, contactId) {
      return lastInbound.get({ integrationId, id: contactId }) ?? undefined;
    },
    async listInteractions({ workspaceId, from, since, limit }) {
      const rows = db
        .prepare<Record<string, unknown>, InteractionRow>(listInteractionsSql({ from, since }))
        .all({ workspaceId, from, since, limit });
      return rows.map(toInteraction);
    },
    async findByWamid(integrationId, wamid) {
      const row = byWamid.get(integrationId, wamid);
      return row ? toInteraction(row) : undefined;
    },
    async findInteraction(id) {
      const seq = interactionSeq(id);
      const row = seq === undefined ? undefined : bySeq.get(seq);
      return row ? toInteraction(row) : undefined;
    },
    async listContacts(workspaceId) {
      return contacts.all(workspaceId).map(toContact);
    },
    async listWebhookErrors(workspaceId, limit) {
      return errors.all(workspaceId, limit).map(toWebhookError);
    },
    async purgeIntegration(integrationId) {
      return db.transaction(() => {
        db.prepare(
          'DELETE FROM dispatch_events WHERE interaction_seq IN (SELECT seq FROM interactions WHERE integration_id = ?)',
        ).run(integrationId);
        const removed = db.prepare('DELETE FROM interactions WHERE integration_id = ?').run(integrationId).changes;
        db.prepare('DELETE FROM contacts WHERE integration_id = ?').run(integrationId);
        db.prepare('DELETE FROM message_statuses WHERE integration_id = ?').run(integrationId);
        db.prepare('DELETE FROM outbound_messages WHERE integration_id = ?').run(integrationId);
        db.prepare('DELETE FROM webhook_errors WHERE integration_id = ?').run(integrationId);
        db.prepare('DELETE FROM media WHERE integration_id = ?').run(integrationId);
        return removed;
      })();
    },
  };
}

/**
 * Newest first, along an index whatever is stored: one sender's messages by interactions_by_sender (seq: the order
 * stored), the workspace's by interactions_by_time (arrival, then seq). The two orders agree (seq is taken as each
 * message arrives) but for clocks set back or several relays' clocks apart by milliseconds.
 */
export const NEWEST_FIRST = (from: string | undefined) => (from ? 'seq DESC' : 'received_at DESC, seq DESC');

/** `messages list`'s query on SQLite (parameters @workspaceId, @from, @since, @limit). */
export function listInteractionsSql(filter: { from?: string | undefined; since?: string | undefined }): string {
  const where = ['workspace_id = @workspaceId'];
  if (filter.from) where.push('from_id = @from');
  // With --from, `+received_at` keeps the planner on the sender's index (a range of the workspace's time index
  // would be read whole and sorted).
  if (filter.since) where.push(filter.from ? '+received_at >= @since' : 'received_at >= @since');
  return `SELECT * FROM interactions WHERE ${where.join(' AND ')} ORDER BY ${NEWEST_FIRST(filter.from)} LIMIT @limit`;
}

/**
 * A stored message as the inbox returns it (both backends). Spelled out (no rest/spread): this runs once per stored
 * message. Same key order as before (JSON consumers see it): the message's fields, then id, workspaceId, receivedAt.
 */
export function asInteraction(job: IngestJob, message: NewInteraction, seq: number): Interaction {
  return {
    integrationId: message.integrationId,
    channel: message.channel,
    wamid: message.wamid,
    phoneNumberId: message.phoneNumberId,
    from: message.from,
    fromKind: message.fromKind,
    contactName: message.contactName,
    type: message.type,
    text: message.text,
    mediaId: message.mediaId,
    replyTo: message.replyTo,
    timestamp: message.timestamp,
    raw: message.raw,
    id: interactionId(seq),
    workspaceId: job.workspaceId,
    receivedAt: job.receivedAt,
    userId: message.userId,
    parentUserId: message.parentUserId,
  };
}
