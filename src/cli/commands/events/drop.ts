import type { Context } from '../../context.js';
import { parseEventRef } from '../../flag-values.js';
import { UserError } from '../../../errors.js';

export async function run(ctx: Context, _options: Record<string, never>, idArg: string): Promise<void> {
  const ref = parseEventRef(idArg);
  const store = await ctx.store();
  const workspace = await ctx.workspace();
  if (ref.queue !== 'messages') {
    // An event's document (--events) or Meta's delivery (--forward-raw) that the user's code keeps refusing.
    const { findForward, forwardName } = await import('../../../relay/replay.js');
    const found = await findForward(store, workspace, ref);
    const name = forwardName(ref);
    if (!(await store.forwards[ref.queue].drop(ref.id))) throw notPending(name, found.state);
    ctx.out.result({ id: name, state: 'dropped', object: found.object, attempts: found.attempts }, () => [
      `Dropped event ${name} (${ref.queue === 'raw' ? "Meta's delivery" : `${found.object} event`}, ${found.attempts} attempts): it is not attempted again.`,
      `It stays stored; \`lumen events replay ${name}\` delivers it again.`,
    ]);
    return;
  }
  const { id } = ref;
  const event = await store.dispatch.find(id);
  if (!event || event.workspaceId !== workspace.id) {
    throw new UserError(`No event ${id} in workspace ${workspace.name}.`, { code: 'event_not_found', hint: 'See `lumen events list`.', kind: 'not_found' });
  }
  if (!(await store.dispatch.drop(id, ctx.now().toISOString()))) throw notPending(String(id), event.state);
  ctx.out.result({ id, state: 'dropped', interactionId: event.interactionId, attempts: event.attempts }, () => [
    `Dropped event ${id} (${event.interactionId}, ${event.attempts} attempts): it is not attempted again.`,
    `The message stays stored; \`lumen events replay ${id}\` delivers it again.`,
  ]);
}

function notPending(name: string, state: string): UserError {
  return new UserError(`Event ${name} is ${state === 'dropped' ? 'dropped already' : 'delivered'}; there is nothing to drop.`, {
    code: 'event_not_pending',
    kind: 'conflict',
    ...(state === 'dropped' ? { hint: '`lumen events replay` delivers it again.' } : {}),
  });
}
