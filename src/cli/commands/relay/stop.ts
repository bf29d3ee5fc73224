import { join } from 'node:path';
import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { UsageError, UserError } from '../../../errors.js';
import { processAlive, readRelayState, runningRelay } from '../../../relay/state-file.js';
import type { stop } from './index.js';

/**
 * Signals the relay that relay.json names (SIGTERM: it stops accepting, finishes what is in flight, closes) and waits
 * until that process is gone. Only a relay that answers its health check is signalled: a stale file's pid may belong
 * to another program by now.
 */
export async function run(ctx: Context, options: Options<typeof stop>): Promise<void> {
  const seconds = Number(options.timeout);
  if (!/^\d+$/.test(options.timeout.trim()) || seconds < 1) {
    throw new UsageError(`--timeout must be a whole number of seconds (at least 1); got "${options.timeout}".`);
  }
  const stateFile = join(ctx.paths.dataDir, 'relay.json');
  const relay = await runningRelay(stateFile);
  if (!relay) {
    const stale = readRelayState(stateFile);
    ctx.out.result({ running: false, stopped: false, home: ctx.paths.dataDir }, () =>
      `No relay is running for this LUMEN_HOME (${ctx.paths.dataDir})${stale && processAlive(stale.pid) ? `; pid ${stale.pid} in relay.json does not answer at ${stale.url}, so it was left alone` : ''}.`,
    );
    return;
  }
  try {
    process.kill(relay.pid, 'SIGTERM');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') {
      throw new UserError(`Cannot signal the relay (pid ${relay.pid}): ${(error as Error).message}`, {
        code: 'relay_stop_failed',
        hint: 'It runs as another user? Stop it as that user, or with its service manager.',
        cause: error,
      });
    }
  }
  if (!ctx.globals.json) ctx.out.info(`Stopping the relay (pid ${relay.pid}): finishing deliveries in flight…`);
  const deadline = ctx.now().getTime() + seconds * 1000;
  while (processAlive(relay.pid)) {
    if (ctx.now().getTime() > deadline) {
      throw new UserError(`The relay (pid ${relay.pid}) is still stopping after ${seconds} s.`, {
        code: 'relay_stop_timeout',
        hint: `It is finishing deliveries in flight; wait, or \`kill -9 ${relay.pid}\` (nothing acknowledged is lost, deliveries in flight are retried).`,
        kind: 'unavailable',
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  ctx.out.result({ running: false, stopped: true, pid: relay.pid, url: relay.url }, () => `Relay stopped (pid ${relay.pid}, ${relay.url}).`);
}
