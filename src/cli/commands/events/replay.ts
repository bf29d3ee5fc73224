import type { Context } from '../../context.js';
import { parseEventId } from '../../flag-values.js';
import type { Options } from '../../declare.js';
import { serviceDeps } from '../../deps.js';
import { UsageError, type Outcome } from '../../../errors.js';
import type { replay } from './index.js';

export async function run(ctx: Context, options: Options<typeof replay>, idArg: string): Promise<Outcome> {
  const id = parseEventId(idArg);
  const deps = await serviceDeps(ctx);
  const workspace = await ctx.workspace();
  const { replayEvent } = await import('../../../relay/replay.js');
  // No spinner's ✓ here: a delivery that failed must not look like success.
  const result = await replayEvent(deps, workspace, { id, forwardTo: options.forwardTo, exec: options.exec });
  if (result.queued) {
    ctx.out.result({ id: result.event.id, state: result.event.state, delivered: false }, () =>
      `Event ${result.event.id} is queued again; a running \`lumen relay start --forward-to …\` (or --exec) delivers it.`,
    );
    return 'ok';
  }
  const { queued: _, ...data } = result;
  ctx.out.result(data, () =>
    result.delivered
      ? `Delivered event ${id} to ${result.target} (${result.status}) in ${result.durationMs} ms.`
      : `Delivery of event ${id} to ${result.target} failed: ${result.error}.`,
  );
  return result.delivered ? 'ok' : 'failed';
}
