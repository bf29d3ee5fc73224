import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { UsageError, UserError, type Outcome } from '../../../errors.js';
import type { replay } from './index.js';

export async function run(ctx: Context, options: Options<typeof replay>, idArg: string): Promise<Outcome> {
  const id = Number(idArg.replace(/^evt_/, ''));
  if (!Number.isSafeInteger(id) || id < 1) throw new UsageError(`Event id must be a number from \`lumen events list\`; got "${idArg}".`);
  if (options.forwardTo && options.exec) throw new UsageError('Choose --forward-to or --exec, not both.');
  const store = await ctx.store();
  const workspace = await ctx.workspace();
  const event = await store.dispatch.find(id);
  if (!event || event.workspaceId !== workspace.id) {
    throw new UserError(`No event ${id} in workspace ${workspace.name}.`, { code: 'event_not_found', hint: 'See `lumen events list`.' });
  }
  const interaction = await store.inbox.findInteraction(event.interactionId);
  if (!interaction) {
    throw new UserError(`The message of event ${id} was purged; there is nothing to deliver.`, { code: 'interaction_not_found' });
  }

  if (!options.forwardTo && !options.exec) {
    const queued = await store.dispatch.requeue(interaction.id, workspace.id, ctx.now().toISOString());
    ctx.out.result({ id: queued.id, state: queued.state, delivered: false }, () =>
      `Event ${queued.id} is queued again; a running \`lumen relay start --forward-to …\` (or --exec) delivers it.`,
    );
    return 'ok';
  }

  const { forwardTarget, execTarget } = await import('../../../relay/dispatch.js');
  const { relaySigningSecret } = await import('../../../relay/server.js');
  const target = options.forwardTo
    ? forwardTarget(options.forwardTo, await relaySigningSecret(await ctx.secrets()))
    : execTarget(options.exec!);
  const started = Date.now();
  const result = await ctx.out.step(`Delivering event ${id} to ${target.description}`, () => target.deliver(interaction));
  const durationMs = Date.now() - started;
  if (result.ok) {
    await store.dispatch.markDelivered(id, { target: target.description, status: result.status, durationMs, at: ctx.now().toISOString() });
  }
  const data = { id, delivered: result.ok, target: target.description, status: result.status, error: result.error ?? null, durationMs };
  ctx.out.result(data, () =>
    result.ok
      ? `Delivered event ${id} to ${target.description} (${result.status}) in ${durationMs} ms.`
      : `Delivery of event ${id} to ${target.description} failed: ${result.error}.`,
  );
  return result.ok ? 'ok' : 'failed';
}
