import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { parseLimit } from '../../flag-values.js';
import { table } from '../../table.js';
import type { list } from './index.js';

export async function run(ctx: Context, options: Options<typeof list>): Promise<void> {
  const limit = parseLimit(options.limit);
  const store = await ctx.store();
  const workspace = await ctx.workspace();
  const listed = await store.dispatch.list({ workspaceId: workspace.id, failedOnly: options.failed, limit });
  // A message with media shows its download too: the file is fetched before (or while) it is handed on.
  const events = await Promise.all(
    listed.map(async (e) => {
      const media = await store.media.forInteraction(e.interactionId);
      return { ...e, media: media ? { id: media.mediaId, state: media.state, attempts: media.attempts, lastError: media.lastError, nextAttemptAt: media.nextAttemptAt } : null };
    }),
  );
  ctx.out.result(events, () => {
    if (events.length === 0) {
      return options.failed
        ? 'No failing deliveries.'
        : 'No deliveries yet. They are made by `lumen relay start --forward-to URL` or `--exec CMD`.';
    }
    return table(
      ['ID', 'STATE', 'ATTEMPTS', 'LAST RESULT', 'NEXT ATTEMPT', 'INTERACTION', 'MEDIA'],
      events.map((e) => [
        String(e.id),
        e.state,
        String(e.attempts),
        e.lastError ?? (e.lastStatus !== null ? String(e.lastStatus) : ''),
        e.state === 'delivered' || e.state === 'dropped' ? '' : ctx.time.atRelative(e.nextAttemptAt),
        e.interactionId,
        e.media ? `${e.media.state}${e.media.state === 'pending' && e.media.lastError ? ` (${e.media.attempts} tries: ${e.media.lastError})` : ''}` : '',
      ]),
    );
  });
}
