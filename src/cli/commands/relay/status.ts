import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from '../../context.js';
import { UserError } from '../../errors.js';

interface RelayState {
  pid: number;
  url: string;
  publicUrl: string | null;
  startedAt: string;
}

export async function run(ctx: Context): Promise<void> {
  const file = join(ctx.paths.dataDir, 'relay.json');
  let state: RelayState | undefined;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as RelayState;
  } catch {
    state = undefined;
  }
  const alive = state !== undefined && processAlive(state.pid) && (await healthy(state.url));
  if (!state || !alive) {
    throw new UserError('No relay is running here.', { code: 'relay_not_running', hint: 'Start one with `lumen relay start`.' });
  }
  const data = { running: true, pid: state.pid, url: state.url, publicUrl: state.publicUrl, startedAt: state.startedAt };
  ctx.out.result(data, () => [
    `Relay running (pid ${state.pid}) on ${state.url}, since ${state.startedAt}.`,
    state.publicUrl ? `Public URL: ${state.publicUrl}` : 'No public URL (local only).',
  ]);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function healthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
    return response.ok;
  } catch {
    return false;
  }
}
