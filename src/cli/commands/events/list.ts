import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { parseLimit } from '../../flag-values.js';
import { table } from '../../table.js';
import type { list } from './index.js';
import { forwardRef } from '../../../store/repos/forward-queue.js';

export async function run(ctx: Context, options: Options<typeof list>): Promise<void> {
  const limit = parseLimit(options.limit);
  const store = await ctx.store();
  const workspace = await ctx.workspace();
  const filter = { workspaceId: workspace.id, failedOnly: options.failed, limit };
  const listed = await store.dispatch.list(filter);
  // A message with media shows its download too: the file is fetched before (or while) it is handed on.
  const messages = await Promise.all(
    listed.map(async (e) => {
      const media = await store.media.forInteraction(e.interactionId);
      return {
        ...e,
        queue: 'messages' as const,
        media: media ? { id: media.mediaId, state: media.state, attempts: media.attempts, lastError: media.lastError, nextAttemptAt: media.nextAttemptAt } : null,
        at: e.createdAt,
      };
    }),
  );
  // Besides the messages: the documents of other events (--events) and Meta's own deliveries (--forward-raw).
  const forwarded = (
    await Promise.all(
      (['events', 'raw'] as const).map(async (queue) =>
        (await store.forwards[queue].list(filter)).map(({ claimedUntil: _, ...record }) => ({
          ...record,
          id: forwardRef(queue, record.id),
          queue,
          at: record.receivedAt,
        })),
      ),
    )
  ).flat();
  // Newest first, all queues together; each is newest first already.
  const events = [...messages, ...forwarded]
    .sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0))
    .slice(0, limit)
    .map(({ at: _, ...event }) => event);
  ctx.out.result(events, () => {
    if (events.length === 0) {
      return options.failed
        ? 'No failing deliveries.'
        : 'No deliveries yet. They are made by `lumen relay start --forward-to URL` or `--exec CMD`.';
    }
    return table(
      ['ID', 'STATE', 'ATTEMPTS', 'LAST RESULT', 'NEXT ATTEMPT', 'WHAT', 'MEDIA'],
      events.map((e) => [
        String(e.id),
        e.state,
        String(e.attempts),
        e.lastError ?? (e.lastStatus !== null ? String(e.lastStatus) : ''),
        e.state === 'delivered' || e.state === 'dropped' || e.nextAttemptAt === null ? '' : ctx.time.atRelative(e.nextAttemptAt),
        e.queue === 'messages' ? e.interactionId : e.queue === 'raw' ? "Meta's delivery" : `${e.object} event`,
        e.queue === 'messages' && e.media ? `${e.media.state}${e.media.state === 'pending' && e.media.lastError ? ` (${e.media.attempts} tries: ${e.media.lastError})` : ''}` : '',
      ]),
    );
  });
}
