import { join } from 'node:path';
import type { Context } from '../../context.js';
import { UserError } from '../../../errors.js';
import type { RelayEvent } from '../../../relay/events.js';
import { runningRelay } from '../../../relay/state-file.js';

/**
 * `lumen events tail`: follows the running relay's events from another terminal, over the relay's loopback local
 * API (`GET /v1/events`, with the local API key from the secret store): one line each, or NDJSON with --json. Ends
 * when the relay stops (or on Ctrl-C).
 */
export async function run(ctx: Context): Promise<void> {
  const state = await runningRelay(join(ctx.paths.dataDir, 'relay.json'));
  if (!state) {
    throw new UserError(`No relay is running for this LUMEN_HOME (${ctx.paths.dataDir}).`, {
      code: 'relay_not_running',
      hint: 'Start one with `lumen relay start` (in this LUMEN_HOME), then tail it.',
      kind: 'unavailable',
    });
  }
  const { LOCAL_API_KEY } = await import('../../../relay/server.js');
  const key = await (await ctx.secrets()).get(LOCAL_API_KEY);
  if (!key) {
    throw new UserError('The running relay has no local API key to follow it with.', {
      code: 'local_api_off',
      hint: 'Restart the relay (`lumen relay start` creates the key).',
      kind: 'unavailable',
    });
  }
  const { request } = await import('undici');
  let response: Awaited<ReturnType<typeof request>>;
  try {
    response = await request(`${state.url}/v1/events`, { headers: { authorization: `Bearer ${key}` }, bodyTimeout: 0 });
  } catch {
    throw new UserError(`The relay at ${state.url} did not answer.`, {
      code: 'relay_unreachable',
      hint: 'Is it still running? `lumen relay status`.',
      kind: 'unavailable',
    });
  }
  if (response.statusCode !== 200) {
    const text = await response.body.text();
    let said = text.slice(0, 200);
    try {
      said = String((JSON.parse(text) as { error: { message: unknown } }).error.message).slice(0, 200);
    } catch {}
    throw new UserError(`The relay refused to be followed (${response.statusCode}): ${said}`, {
      code: 'relay_refused',
      kind: 'unavailable',
    });
  }
  const { printEvent } = await import('../relay/start.js');
  let buffered = '';
  const show = (line: string) => {
    if (line.trim() === '') return;
    let event: RelayEvent | { event: 'following' } | { event: 'skipped'; count: number };
    try {
      event = JSON.parse(line) as typeof event;
    } catch {
      return;
    }
    if (ctx.globals.json) ctx.out.event(event);
    else if (event.event === 'following') ctx.out.info(`Following the relay on ${state.url} (Ctrl-C stops).`);
    // The relay holds at most 1 MiB for a follower that stops reading (a paused pager), then skips.
    else if (event.event === 'skipped') ctx.out.warn(`${event.count} event${event.count === 1 ? '' : 's'} skipped: this terminal fell behind the relay.`);
    else printEvent(ctx, event);
  };
  const stop = () => response.body.destroy();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    for await (const chunk of response.body) {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) show(line);
    }
  } catch {
    // The stream was cut (Ctrl-C, or the relay went away).
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  show(buffered);
  if (!ctx.globals.json) ctx.out.info('The relay stopped; no more events.');
}
