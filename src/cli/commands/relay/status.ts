import { join } from 'node:path';
import type { Context } from '../../context.js';
import { UserError } from '../../../errors.js';
import { runningRelay } from '../../../relay/state-file.js';

export async function run(ctx: Context): Promise<void> {
  const state = await runningRelay(join(ctx.paths.dataDir, 'relay.json'));
  if (!state) {
    throw new UserError('No relay is running here.', { code: 'relay_not_running', hint: 'Start one with `lumen relay start`.' });
  }
  const data = { running: true, pid: state.pid, url: state.url, publicUrl: state.publicUrl, startedAt: state.startedAt };
  ctx.out.result(data, () => [
    `Relay running (pid ${state.pid}) on ${state.url}, since ${state.startedAt}.`,
    state.publicUrl ? `Public URL: ${state.publicUrl}` : 'No public URL (local only).',
  ]);
}
