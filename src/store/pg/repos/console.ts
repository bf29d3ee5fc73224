import type { PgDatabase } from '../db.js';
import { toEvent, type EventRow } from '../../repos/dispatch.js';
import { toContact, toInteraction, type ContactRow, type InteractionRow } from '../../repos/inbox.js';
import { toMedia, type MediaRow } from '../../repos/media.js';
import { toOutbound, type OutboundRow } from '../../repos/outbound.js';
import type { ConsoleRepo, ThreadItem } from '../../types.js';

/** The console's reads, with the pages and orders of SQLite's: keyset pages, newest first. */
export function createConsoleRepo(db: PgDatabase): ConsoleRepo {
  return {
    async contacts(workspaceId, { before, limit }) {
      const rows = before
        ? await db.all<ContactRow>(
            `SELECT * FROM contacts WHERE workspace_id = $1 AND (last_inbound_at, integration_id, contact_id) < ($2, $3, $4)
              ORDER BY last_inbound_at DESC, integration_id DESC, contact_id DESC LIMIT $5`,
            [workspaceId, before.lastInboundAt, before.integrationId, before.contactId, limit],
          )
        : await db.all<ContactRow>(
            'SELECT * FROM contacts WHERE workspace_id = $1 ORDER BY last_inbound_at DESC, integration_id DESC, contact_id DESC LIMIT $2',
            [workspaceId, limit],
          );
      return rows.map(toContact);
    },
    async contact(integrationId, contactId) {
      const row = await db.get<ContactRow>('SELECT * FROM contacts WHERE integration_id = $1 AND contact_id = $2', [integrationId, contactId]);
      return row ? toContact(row) : undefined;
    },
    async thread(integrationId, contactId, { before, limit }) {
      // The contact's row names its workspace even after its number was disconnected.
      const ws = (
        await db.get<{ workspace_id: string }>('SELECT workspace_id FROM contacts WHERE integration_id = $1 AND contact_id = $2', [integrationId, contactId])
      )?.workspace_id;
      if (!ws) return [];
      const [inbound, outbound] = await Promise.all([
        // interactions_by_sender (workspace_id, from_id, seq) finds the contact's messages.
        db.all<InteractionRow & { media: MediaRow | null }>(
          `SELECT i.*, (SELECT row_to_json(m) FROM media m WHERE m.interaction_seq = i.seq LIMIT 1) AS media
             FROM interactions i WHERE i.workspace_id = $1 AND i.from_id = $2 AND i.integration_id = $3
              AND ($4::text IS NULL OR i.sent_at < $4)
            ORDER BY i.sent_at DESC, i.seq DESC LIMIT $5`,
          [ws, contactId, integrationId, before ?? null, limit],
        ),
        db.all<OutboundRow>(
          `SELECT * FROM outbound_messages WHERE integration_id = $1 AND recipient = $2 AND ($3::text IS NULL OR created_at < $3)
            ORDER BY created_at DESC LIMIT $4`,
          [integrationId, contactId, before ?? null, limit],
        ),
      ]);
      const items: ThreadItem[] = [
        ...inbound.map((row): ThreadItem => ({
          direction: 'in',
          at: row.sent_at,
          interaction: toInteraction(row),
          media: row.media_id && row.media ? toMedia(row.media) : null,
        })),
        ...outbound.map((row): ThreadItem => ({ direction: 'out', at: row.created_at, message: toOutbound(row) })),
      ];
      items.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
      return items.slice(0, limit).reverse();
    },
    async events(workspaceId, { before, limit, state }) {
      const rows = await db.all<EventRow>(
        `SELECT * FROM dispatch_events WHERE workspace_id = $1
            AND ($2::bigint IS NULL OR interaction_seq < $2) AND ($3::text IS NULL OR state = $3)
          ORDER BY interaction_seq DESC LIMIT $4`,
        [workspaceId, before ?? null, state ?? null, limit],
      );
      return rows.map(toEvent);
    },
    async queueDepth(workspaceId) {
      const row = (await db.get<{ dispatch: number; outbound: number; approval: number; media: number }>(
        `SELECT
           (SELECT COUNT(*) FROM dispatch_events WHERE workspace_id = $1 AND state != 'delivered' AND state != 'dropped') AS dispatch,
           (SELECT COUNT(*) FROM outbound_messages WHERE workspace_id = $1 AND state IN ('queued', 'sending')) AS outbound,
           (SELECT COUNT(*) FROM outbound_messages WHERE workspace_id = $1 AND state = 'pending_approval') AS approval,
           (SELECT COUNT(*) FROM media WHERE workspace_id = $1 AND state = 'pending') AS media`,
        [workspaceId],
      ))!;
      return { dispatch: row.dispatch, outbound: row.outbound, pendingApproval: row.approval, media: row.media };
    },
    async sendsPerMinute(workspaceId, since) {
      const rows = await db.all<{ minute: string; n: number }>(
        `SELECT substr(created_at, 1, 16) AS minute, COUNT(*) AS n FROM outbound_messages
          WHERE workspace_id = $1 AND created_at >= $2 GROUP BY minute`,
        [workspaceId, since],
      );
      return new Map(rows.map((row) => [row.minute, row.n]));
    },
  };
}
