import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { normalizeSender, parseLimit, parseSince } from '../../flag-values.js';
import { table } from '../../table.js';
import type { list } from './index.js';

export async function run(ctx: Context, options: Options<typeof list>): Promise<void> {
  const limit = parseLimit(options.limit);
  const since = options.since ? parseSince(options.since, ctx.now()) : undefined;
  const store = await ctx.store();
  const workspace = await ctx.workspace();
  const interactions = await store.inbox.listInteractions({
    workspaceId: workspace.id,
    from: options.from ? normalizeSender(options.from) : undefined,
    since,
    limit,
  });
  ctx.out.result(interactions, () => {
    if (interactions.length === 0) return 'No messages stored yet. Start the relay with `lumen relay start`.';
    return table(
      ['RECEIVED', 'FROM', 'NAME', 'TYPE', 'TEXT', 'ID'],
      interactions.map((i) => [
        ctx.time.at(i.receivedAt),
        i.fromKind === 'phone' ? `+${i.from}` : i.from,
        i.contactName ?? '',
        i.type,
        i.text.replace(/\s+/g, ' ').slice(0, 60),
        i.id,
      ]),
    );
  });
}
