import type { Context } from '../../context.js';
import { parseEventId } from '../../flag-values.js';
import { UsageError, UserError } from '../../../errors.js';

export async function run(ctx: Context, _options: Record<string, never>, idArg: string): Promise<void> {
  const id = parseEventId(idArg);
  const store = await ctx.store();
  const workspace = await ctx.workspace();
  const event = await store.dispatch.find(id);
  if (!event || event.workspaceId !== workspace.id) {
    throw new UserError(`No event ${id} in workspace ${workspace.name}.`, { code: 'event_not_found', hint: 'See `lumen events list`.', kind: 'not_found' });
  }
  if (!(await store.dispatch.drop(id, ctx.now().toISOString()))) {
    throw new UserError(`Event ${id} is ${event.state === 'dropped' ? 'dropped already' : 'delivered'}; there is nothing to drop.`, {
      code: 'event_not_pending',
      kind: 'conflict',
      ...(event.state === 'dropped' ? { hint: '`lumen events replay` delivers it again.' } : {}),
    });
  }
  ctx.out.result({ id, state: 'dropped', interactionId: event.interactionId, attempts: event.attempts }, () => [
    `Dropped event ${id} (${event.interactionId}, ${event.attempts} attempts): it is not attempted again.`,
    `The message stays stored; \`lumen events replay ${id}\` delivers it again.`,
  ]);
}
