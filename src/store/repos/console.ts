import type { Database } from '../db.js';
import type { ConsoleRepo, DispatchEvent, ThreadItem } from '../types.js';
import { createDispatchRepo } from './dispatch.js';
import { toContact, toInteraction, type ContactRow, type InteractionRow } from './inbox.js';
import { toMedia, type MediaRow } from './media.js';
import { toOutbound, type OutboundRow } from './outbound.js';

/**
 * Reads for the browser console, each one small query so a field added later is one more column. Every page is a
 * keyset page (before the last item shown), so the hundredth page costs what the first does.
 */
export function createConsoleRepo(db: Database): ConsoleRepo {
  const dispatch = createDispatchRepo(db);
  const contacts = db.prepare<{ ws: string; at: string | null; integration: string; contact: string; limit: number }, ContactRow>(
    `SELECT * FROM contacts WHERE workspace_id = @ws
        AND (@at IS NULL OR (last_inbound_at, integration_id, contact_id) < (@at, @integration, @contact))
      ORDER BY last_inbound_at DESC, integration_id DESC, contact_id DESC LIMIT @limit`,
  );
  const contact = db.prepare<[string, string], ContactRow>('SELECT * FROM contacts WHERE integration_id = ? AND contact_id = ?');
  // interactions_by_sender (workspace_id, from_id, seq) finds the contact's messages; newest first by seq.
  const inbound = db.prepare<{ ws: string; integration: string; contact: string; before: string | null; limit: number }, InteractionRow>(
    `SELECT * FROM interactions WHERE workspace_id = @ws AND from_id = @contact AND integration_id = @integration
        AND (@before IS NULL OR sent_at < @before)
      ORDER BY sent_at DESC, seq DESC LIMIT @limit`,
  );
  const outbound = db.prepare<{ integration: string; contact: string; before: string | null; limit: number }, OutboundRow>(
    `SELECT * FROM outbound_messages WHERE integration_id = @integration AND recipient = @contact
        AND (@before IS NULL OR created_at < @before)
      ORDER BY created_at DESC LIMIT @limit`,
  );
  const mediaOf = db.prepare<[number], MediaRow>('SELECT * FROM media WHERE interaction_seq = ? LIMIT 1');
  // The contact's row names its workspace even after its number was disconnected.
  const workspaceOf = db.prepare<[string, string], { workspace_id: string }>(
    'SELECT workspace_id FROM contacts WHERE integration_id = ? AND contact_id = ?',
  );
  const events = db.prepare<{ ws: string; before: number | null; state: string | null; limit: number }, { interaction_seq: number }>(
    `SELECT interaction_seq FROM dispatch_events WHERE workspace_id = @ws
        AND (@before IS NULL OR interaction_seq < @before) AND (@state IS NULL OR state = @state)
      ORDER BY interaction_seq DESC LIMIT @limit`,
  );
  const counts = db.prepare<[string, string, string, string], { dispatch: number; outbound: number; approval: number; media: number }>(
    `SELECT
       (SELECT COUNT(*) FROM dispatch_events WHERE workspace_id = ? AND state != 'delivered' AND state != 'dropped') AS dispatch,
       (SELECT COUNT(*) FROM outbound_messages WHERE workspace_id = ? AND state IN ('queued', 'sending')) AS outbound,
       (SELECT COUNT(*) FROM outbound_messages WHERE workspace_id = ? AND state = 'pending_approval') AS approval,
       (SELECT COUNT(*) FROM media WHERE workspace_id = ? AND state = 'pending') AS media`,
  );
  const sends = db.prepare<[string, string], { minute: string; n: number }>(
    `SELECT substr(created_at, 1, 16) AS minute, COUNT(*) AS n FROM outbound_messages
      WHERE workspace_id = ? AND created_at >= ? GROUP BY minute`,
  );

  return {
    async contacts(workspaceId, { before, limit }) {
      return contacts
        .all({ ws: workspaceId, at: before?.lastInboundAt ?? null, integration: before?.integrationId ?? '', contact: before?.contactId ?? '', limit })
        .map(toContact);
    },
    async contact(integrationId, contactId) {
      const row = contact.get(integrationId, contactId);
      return row ? toContact(row) : undefined;
    },
    async thread(integrationId, contactId, { before, limit }) {
      const ws = workspaceOf.get(integrationId, contactId)?.workspace_id;
      if (!ws) return [];
      const items: ThreadItem[] = [
        ...inbound.all({ ws, integration: integrationId, contact: contactId, before: before ?? null, limit }).map((row): ThreadItem => {
          const media = row.media_id ? mediaOf.get(row.seq) : undefined;
          return { direction: 'in', at: row.sent_at, interaction: toInteraction(row), media: media ? toMedia(media) : null };
        }),
        ...outbound
          .all({ integration: integrationId, contact: contactId, before: before ?? null, limit })
          .map((row): ThreadItem => ({ direction: 'out', at: row.created_at, message: toOutbound(row) })),
      ];
      items.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
      return items.slice(0, limit).reverse();
    },
    async events(workspaceId, { before, limit, state }) {
      const found: DispatchEvent[] = [];
      for (const { interaction_seq } of events.all({ ws: workspaceId, before: before ?? null, state: state ?? null, limit })) {
        const event = await dispatch.find(interaction_seq);
        if (event) found.push(event);
      }
      return found;
    },
    async queueDepth(workspaceId) {
      const row = counts.get(workspaceId, workspaceId, workspaceId, workspaceId)!;
      return { dispatch: row.dispatch, outbound: row.outbound, pendingApproval: row.approval, media: row.media };
    },
    async sendsPerMinute(workspaceId, since) {
      return new Map(sends.all(workspaceId, since).map((row) => [row.minute, row.n]));
    },
  };
}
