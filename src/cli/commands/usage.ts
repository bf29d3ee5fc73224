import type { Context } from '../context.js';
import type { Options } from '../declare.js';
import { parseSince } from '../flag-values.js';
import { table } from '../table.js';
import type { usage } from './index.js';

/** `lumen usage`: the workspace's sent messages since then, by Meta's pricing category (from status webhooks). */
export async function run(ctx: Context, options: Options<typeof usage>): Promise<void> {
  const since = parseSince(options.since, ctx.now());
  const store = await ctx.store();
  const workspace = await ctx.workspace();
  const categories = await store.facts.usage(workspace.id, since);
  const total = categories.reduce(
    (sum, c) => ({
      sent: sum.sent + c.sent,
      delivered: sum.delivered + c.delivered,
      read: sum.read + c.read,
      failed: sum.failed + c.failed,
      billable: sum.billable + c.billable,
      messages: sum.messages + c.total,
    }),
    { sent: 0, delivered: 0, read: 0, failed: 0, billable: 0, messages: 0 },
  );
  const data = { workspace: workspace.name, since, categories, total };
  ctx.out.result(data, () => {
    if (categories.length === 0) return `No messages sent since ${ctx.time.at(since)}.`;
    return [
      `Messages sent since ${ctx.time.at(since)} (by Meta's pricing category; "unknown" until a status names it)`,
      ...table(
        ['CATEGORY', 'MESSAGES', 'SENT', 'DELIVERED', 'READ', 'FAILED', 'BILLABLE'],
        [
          ...categories.map((c) => [c.category, c.total, c.sent, c.delivered, c.read, c.failed, c.billable].map(String)),
          ['total', total.messages, total.sent, total.delivered, total.read, total.failed, total.billable].map(String),
        ],
      ),
    ];
  });
}
