import type { Database } from '../db.js';
import { DedupeKeys, dedupeKey } from './dedupe-keys.js';
import type { Contact, InboxRepo, IngestJob, IngestOutcome, Interaction, NewInteraction } from '../types.js';

interface InteractionRow {
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
}

/** Interaction ids are `in_<seq>`: the row's own key, so a lookup by id costs no extra index on the hot path. */
export { dedupeKey };

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
});

/** Delivery states of a sent message only move forward: sent → delivered → read; failed is final too. */
const STATUS_RANK_SQL = `CASE state WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 WHEN 'failed' THEN 3 ELSE 0 END`;
const STATUS_RANK: Record<string, number> = { sent: 1, delivered: 2, read: 3, failed: 3 };

interface ContactTally {
  integrationId: string;
  from: string;
  fromKind: string;
  workspaceId: string;
  contactName: string | null;
  userId: string | null;
  first: string;
  last: string;
  count: number;
}

export function createInboxRepo(db: Database): InboxRepo {
  // Positional parameters: binding is measurably cheaper than named ones on this path.
  const insertInteraction = db.prepare(
    `INSERT INTO interactions (workspace_id, integration_id, wamid, phone_number_id, from_id, from_kind,
       contact_name, type, text, media_id, reply_to, sent_at, received_at, raw)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const keys = new DedupeKeys(db);
  const upsertContact = db.prepare(
    `INSERT INTO contacts (integration_id, contact_id, kind, workspace_id, name, user_id, first_seen_at, last_inbound_at, messages)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (integration_id, contact_id) DO UPDATE SET
       name = COALESCE(excluded.name, contacts.name),
       user_id = COALESCE(excluded.user_id, contacts.user_id),
       first_seen_at = MIN(contacts.first_seen_at, excluded.first_seen_at),
       last_inbound_at = MAX(contacts.last_inbound_at, excluded.last_inbound_at),
       messages = contacts.messages + excluded.messages`,
  );
  const insertEvent = db.prepare(
    `INSERT OR IGNORE INTO dispatch_events (interaction_seq, workspace_id, state, next_attempt_at, created_at)
     VALUES (?, ?, 'pending', ?, ?)`,
  );
  const insertStatus = db.prepare(
    `INSERT OR IGNORE INTO message_statuses (wamid, status, integration_id, recipient_id, occurred_at, error_code,
       error_title, error_details, received_at, raw)
     VALUES (@wamid, @status, @integrationId, @recipientId, @timestamp, @errorCode, @errorTitle, @errorDetails,
       @receivedAt, @raw)`,
  );
  const advanceOutbound = db.prepare(
    `UPDATE outbound_messages SET state = @status, updated_at = @receivedAt,
       error_code = COALESCE(@errorCode, error_code), error_title = COALESCE(@errorTitle, error_title),
       error_details = COALESCE(@errorDetails, error_details)
     WHERE wamid = @wamid AND ${STATUS_RANK_SQL} < @rank`,
  );

  function storeMessage(job: IngestJob, message: NewInteraction, contacts: Map<string, ContactTally>): Interaction | undefined {
    const h = dedupeKey(message.integrationId, message.wamid);
    const { duplicate, holder } = keys.find(h, message.integrationId, message.wamid);
    if (duplicate) return undefined;
    const result = insertInteraction.run(
      job.workspaceId,
      message.integrationId,
      message.wamid,
      message.phoneNumberId,
      message.from,
      message.fromKind,
      message.contactName,
      message.type,
      message.text,
      message.mediaId,
      message.replyTo,
      message.timestamp,
      job.receivedAt,
      JSON.stringify(message.raw),
    );
    const seq = Number(result.lastInsertRowid);
    keys.added(h, seq, holder, message.integrationId, message.wamid);
    // One contact upsert per sender per transaction, however many messages it sent.
    const key = `${message.integrationId}\u0000${message.from}`;
    const tally = contacts.get(key);
    if (tally) {
      tally.count += 1;
      tally.contactName = message.contactName ?? tally.contactName;
      tally.userId = message.userId ?? tally.userId;
      if (message.timestamp < tally.first) tally.first = message.timestamp;
      if (message.timestamp > tally.last) tally.last = message.timestamp;
    } else {
      contacts.set(key, {
        integrationId: message.integrationId,
        from: message.from,
        fromKind: message.fromKind,
        workspaceId: job.workspaceId,
        contactName: message.contactName,
        userId: message.userId,
        first: message.timestamp,
        last: message.timestamp,
        count: 1,
      });
    }
    // Spelled out (no rest/spread): this runs once per stored message.
    // Same key order as before (JSON consumers see it): the message's fields, then id, workspaceId, receivedAt.
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
    };
  }

  const ingestAll = db.transaction((jobs: IngestJob[]): IngestOutcome[] => {
    keys.sync();
    const contacts = new Map<string, ContactTally>();
    const outcomes = jobs.map((job) => {
      const outcome: IngestOutcome = { stored: [], duplicates: 0, statusesStored: 0, events: [] };
      for (const message of job.messages) {
        const stored = storeMessage(job, message, contacts);
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
        const row = { ...status, receivedAt: job.receivedAt, raw: JSON.stringify(status.raw) };
        if (insertStatus.run(row).changes === 0) continue;
        outcome.statusesStored += 1;
        const rank = STATUS_RANK[status.status];
        if (rank !== undefined) advanceOutbound.run({ ...row, rank });
      }
      return outcome;
    });
    for (const c of contacts.values()) {
      upsertContact.run(c.integrationId, c.from, c.fromKind, c.workspaceId, c.contactName, c.userId, c.first, c.last, c.count);
    }
    return outcomes;
  });

  const bySeq = db.prepare<[number], InteractionRow>('SELECT * FROM interactions WHERE seq = ?');
  const contacts = db.prepare<[string], Record<string, unknown>>(
    'SELECT * FROM contacts WHERE workspace_id = ? ORDER BY last_inbound_at DESC',
  );

  const lastInbound = db.prepare<[string, string], { last_inbound_at: string }>(
    'SELECT last_inbound_at FROM contacts WHERE integration_id = ? AND contact_id = ?',
  );
  return {
    async lastInboundAt(integrationId, contactId) {
      return lastInbound.get(integrationId, contactId)?.last_inbound_at;
    },
    async ingest(jobs) {
      // BEGIN IMMEDIATE: the transaction reads (dedupe) before it writes, and a deferred one that then finds the
      // checkpointer holding the write lock fails with SQLITE_BUSY at once instead of waiting (busy_timeout).
      try {
        return ingestAll.immediate(jobs);
      } catch (error) {
        keys.forget();
        throw error;
      }
    },
    foldKeys: (maxKeys) => keys.fold(maxKeys),
    deferredKeys: () => keys.deferred,
    flushKeys: () => keys.flush(),
    async listInteractions({ workspaceId, from, since, limit }) {
      const where = ['workspace_id = @workspaceId'];
      if (from) where.push('from_id = @from');
      if (since) where.push('received_at >= @since');
      const rows = db
        .prepare<Record<string, unknown>, InteractionRow>(
          `SELECT * FROM interactions WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT @limit`,
        )
        .all({ workspaceId, from, since, limit });
      return rows.map(toInteraction);
    },
    async findInteraction(id) {
      const seq = interactionSeq(id);
      const row = seq === undefined ? undefined : bySeq.get(seq);
      return row ? toInteraction(row) : undefined;
    },
    async listContacts(workspaceId) {
      return contacts.all(workspaceId).map(
        (row): Contact => ({
          integrationId: String(row.integration_id),
          contactId: String(row.contact_id),
          kind: row.kind === 'user_id' ? 'user_id' : 'phone',
          name: (row.name as string | null) ?? null,
          userId: (row.user_id as string | null) ?? null,
          firstSeenAt: String(row.first_seen_at),
          lastInboundAt: String(row.last_inbound_at),
          messages: Number(row.messages),
        }),
      );
    },
    async purgeIntegration(integrationId) {
      keys.flush();
      return db.transaction(() => {
        db.prepare(
          'DELETE FROM dispatch_events WHERE interaction_seq IN (SELECT seq FROM interactions WHERE integration_id = ?)',
        ).run(integrationId);
        db.prepare(
          'DELETE FROM interaction_keys WHERE seq IN (SELECT seq FROM interactions WHERE integration_id = ?)',
        ).run(integrationId);
        db.prepare('DELETE FROM interaction_key_overflow WHERE integration_id = ?').run(integrationId);
        // A colliding wamid of another integration whose hash holder was purged takes the holder's place.
        db.prepare('INSERT OR IGNORE INTO interaction_keys (h, seq) SELECT h, seq FROM interaction_key_overflow').run();
        db.prepare(
          'DELETE FROM interaction_key_overflow WHERE seq = (SELECT k.seq FROM interaction_keys k WHERE k.h = interaction_key_overflow.h)',
        ).run();
        const removed = db.prepare('DELETE FROM interactions WHERE integration_id = ?').run(integrationId).changes;
        db.prepare('DELETE FROM contacts WHERE integration_id = ?').run(integrationId);
        db.prepare('DELETE FROM message_statuses WHERE integration_id = ?').run(integrationId);
        db.prepare('DELETE FROM outbound_messages WHERE integration_id = ?').run(integrationId);
        return removed;
      })();
    },
  };
}
