import type { Database } from '../db.js';
import { DedupeKeys, dedupeKey, type DedupeOptions } from './dedupe-keys.js';
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

export { dedupeKey };

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
});

/** Delivery states of a sent message only move forward: sent → delivered → read; failed is final too. */
const STATUS_RANK_SQL = `CASE state WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 WHEN 'failed' THEN 3 ELSE 0 END`;
const STATUS_RANK: Record<string, number> = { sent: 1, delivered: 2, read: 3, failed: 3 };

/** The columns of an interaction that its sender's contacts row is derived from. */
interface SenderRow {
  integration_id: string;
  from_id: string;
  from_kind: string;
  workspace_id: string;
  contact_name: string | null;
  user_id: string | null;
  sent_at: string;
}

/** Contacts rows derived from interactions, in seq order: the newest name and user id that are known win. */
function tallySenders(rows: Iterable<SenderRow>): Map<string, Contact & { workspaceId: string }> {
  const tallies = new Map<string, Contact & { workspaceId: string }>();
  for (const row of rows) {
    const key = `${row.integration_id}\u0000${row.from_id}`;
    const tally = tallies.get(key);
    if (tally) {
      tally.messages += 1;
      tally.name = row.contact_name ?? tally.name;
      tally.userId = row.user_id ?? tally.userId;
      if (row.sent_at < tally.firstSeenAt) tally.firstSeenAt = row.sent_at;
      if (row.sent_at > tally.lastInboundAt) tally.lastInboundAt = row.sent_at;
    } else {
      tallies.set(key, {
        integrationId: row.integration_id,
        contactId: row.from_id,
        kind: row.from_kind === 'user_id' ? 'user_id' : 'phone',
        workspaceId: row.workspace_id,
        name: row.contact_name,
        userId: row.user_id,
        firstSeenAt: row.sent_at,
        lastInboundAt: row.sent_at,
        messages: 1,
      });
    }
  }
  return tallies;
}

/** A stored contact updated with the messages that are not folded into it yet. */
function mergeContact(stored: Contact | undefined, recent: Contact): Contact {
  if (!stored) return recent;
  return {
    ...stored,
    name: recent.name ?? stored.name,
    userId: recent.userId ?? stored.userId,
    firstSeenAt: recent.firstSeenAt < stored.firstSeenAt ? recent.firstSeenAt : stored.firstSeenAt,
    lastInboundAt: recent.lastInboundAt > stored.lastInboundAt ? recent.lastInboundAt : stored.lastInboundAt,
    messages: stored.messages + recent.messages,
  };
}

const SENDER_COLUMNS = 'integration_id, from_id, from_kind, workspace_id, contact_name, user_id, sent_at';

export function createInboxRepo(db: Database, dedupe: DedupeOptions = {}): InboxRepo {
  // Positional parameters: binding is measurably cheaper than named ones on this path.
  const insertInteraction = db.prepare(
    `INSERT INTO interactions (workspace_id, integration_id, wamid, phone_number_id, from_id, from_kind,
       contact_name, user_id, type, text, media_id, reply_to, sent_at, received_at, raw)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  // Contacts are derived from the stored messages when the fold watermark passes them (see dedupe-keys.ts), not in
  // the acknowledging transaction: one upsert per sender per fold instead of per sender per group commit.
  // In SQL: no row objects are built for the (tens of thousands of) messages a fold passes.
  const foldContacts = db.prepare(
    `WITH senders AS (
       SELECT integration_id, from_id, MIN(from_kind) AS kind, MIN(workspace_id) AS workspace_id,
              MAX(CASE WHEN contact_name IS NOT NULL THEN seq END) AS name_seq,
              MAX(CASE WHEN user_id IS NOT NULL THEN seq END) AS user_id_seq,
              MIN(sent_at) AS first_seen_at, MAX(sent_at) AS last_inbound_at, COUNT(*) AS messages
         FROM interactions WHERE seq > ? AND seq <= ? GROUP BY integration_id, from_id)
     INSERT INTO contacts (integration_id, contact_id, kind, workspace_id, name, user_id, first_seen_at, last_inbound_at, messages)
     SELECT integration_id, from_id, kind, workspace_id,
            (SELECT contact_name FROM interactions WHERE seq = name_seq),
            (SELECT user_id FROM interactions WHERE seq = user_id_seq),
            first_seen_at, last_inbound_at, messages
       FROM senders WHERE true
     ON CONFLICT (integration_id, contact_id) DO UPDATE SET
       name = COALESCE(excluded.name, contacts.name),
       user_id = COALESCE(excluded.user_id, contacts.user_id),
       first_seen_at = MIN(contacts.first_seen_at, excluded.first_seen_at),
       last_inbound_at = MAX(contacts.last_inbound_at, excluded.last_inbound_at),
       messages = contacts.messages + excluded.messages`,
  );
  const keys = new DedupeKeys(db, (from, to) => foldContacts.run(from, to), dedupe);
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

  function storeMessage(job: IngestJob, message: NewInteraction): Interaction | undefined {
    const h = keys.keyOf(message.integrationId, message.wamid);
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
      message.userId,
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
    const outcomes = jobs.map((job) => {
      const outcome: IngestOutcome = { stored: [], duplicates: 0, statusesStored: 0, events: [] };
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
        const row = { ...status, receivedAt: job.receivedAt, raw: JSON.stringify(status.raw) };
        if (insertStatus.run(row).changes === 0) continue;
        outcome.statusesStored += 1;
        const rank = STATUS_RANK[status.status];
        if (rank !== undefined) advanceOutbound.run({ ...row, rank });
      }
      return outcome;
    });
    return outcomes;
  });

  const bySeq = db.prepare<[number], InteractionRow>('SELECT * FROM interactions WHERE seq = ?');
  const contacts = db.prepare<[string], Record<string, unknown>>(
    'SELECT * FROM contacts WHERE workspace_id = ? ORDER BY last_inbound_at DESC',
  );

  // Readers add the messages above the watermark to the contacts rows (a rowid range: only the newest messages).
  const lastInbound = db
    .prepare<{ integrationId: string; contactId: string }, string | null>(
      `SELECT MAX(t) FROM (
         SELECT last_inbound_at AS t FROM contacts WHERE integration_id = @integrationId AND contact_id = @contactId
         UNION ALL
         SELECT MAX(sent_at) FROM interactions
          WHERE seq > (SELECT through FROM interactions_folded WHERE id = 1)
            AND integration_id = @integrationId AND from_id = @contactId)`,
    )
    .pluck();
  const recentSenders = db.prepare<[string], SenderRow>(
    `SELECT ${SENDER_COLUMNS} FROM interactions
      WHERE seq > (SELECT through FROM interactions_folded WHERE id = 1) AND workspace_id = ? ORDER BY seq`,
  );
  const listContacts = db.transaction((workspaceId: string): Contact[] => {
    const byKey = new Map<string, Contact>();
    for (const row of contacts.all(workspaceId)) {
      const contact: Contact = {
        integrationId: String(row.integration_id),
        contactId: String(row.contact_id),
        kind: row.kind === 'user_id' ? 'user_id' : 'phone',
        name: (row.name as string | null) ?? null,
        userId: (row.user_id as string | null) ?? null,
        firstSeenAt: String(row.first_seen_at),
        lastInboundAt: String(row.last_inbound_at),
        messages: Number(row.messages),
      };
      byKey.set(`${contact.integrationId}\u0000${contact.contactId}`, contact);
    }
    for (const [key, { workspaceId: _, ...recent }] of tallySenders(recentSenders.iterate(workspaceId))) {
      byKey.set(key, mergeContact(byKey.get(key), recent));
    }
    return [...byKey.values()].sort((a, b) => (a.lastInboundAt < b.lastInboundAt ? 1 : a.lastInboundAt > b.lastInboundAt ? -1 : 0));
  });
  return {
    async lastInboundAt(integrationId, contactId) {
      return lastInbound.get({ integrationId, contactId }) ?? undefined;
    },
    async ingest(jobs) {
      // BEGIN IMMEDIATE: the transaction reads (dedupe) before it writes, and a deferred one that then finds the
      // checkpointer holding the write lock fails with SQLITE_BUSY at once instead of waiting (busy_timeout).
      return keys.write(() => ingestAll.immediate(jobs));
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
      // One read transaction: the watermark and the rows it separates are seen at the same moment.
      return listContacts.deferred(workspaceId);
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
        db.prepare('UPDATE interactions_folded SET purged = purged + 1 WHERE id = 1').run();
        return removed;
      })();
    },
  };
}
