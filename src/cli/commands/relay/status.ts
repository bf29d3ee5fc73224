import { join } from 'node:path';
import type { Context } from '../../context.js';
import { runningRelay } from '../../../relay/state-file.js';

/** Whether a relay runs for this LUMEN_HOME: a state either way (exit 0), `{"running":false}` when none does. */
export async function run(ctx: Context): Promise<void> {
  const state = await runningRelay(join(ctx.paths.dataDir, 'relay.json'));
  if (!state) {
    ctx.out.result({ running: false }, () => `No relay is running here (LUMEN_HOME ${ctx.paths.dataDir}). Start one with \`lumen relay start\`.`);
    return;
  }
  const data = { running: true, pid: state.pid, url: state.url, publicUrl: state.publicUrl, startedAt: state.startedAt };
  ctx.out.result(data, () => [
    `Relay running (pid ${state.pid}) on ${state.url}, since ${ctx.time.atRelative(state.startedAt)}.`,
    state.publicUrl ? `Public URL: ${state.publicUrl}` : 'No public URL (local only).',
  ]);
}
