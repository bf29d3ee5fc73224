import { join } from 'node:path';
import type { Context } from '../../context.js';
import { parseEventRef } from '../../flag-values.js';
import type { Options } from '../../declare.js';
import { serviceDeps } from '../../deps.js';
import type { Outcome } from '../../../errors.js';
import type { replay } from './index.js';
import { forwardRef } from '../../../store/repos/forward-queue.js';

export async function run(ctx: Context, options: Options<typeof replay>, idArg: string): Promise<Outcome> {
  const ref = parseEventRef(idArg);
  const deps = await serviceDeps(ctx);
  const workspace = await ctx.workspace();
  const { replayEvent, replayForward } = await import('../../../relay/replay.js');
  // A command gets the running relay's local API, as it does when the relay runs it.
  const { api: localApi, missing } = options.exec ? await runningLocalApi(ctx, deps) : { api: undefined, missing: undefined };
  if (ref.queue !== 'messages') {
    // An event's document (--events) or Meta's delivery (--forward-raw), as the relay's forwarder hands it on.
    const forwarded = await replayForward(deps, workspace, { ref, forwardTo: options.forwardTo, exec: options.exec, localApi });
    if (forwarded.queued) {
      const name = forwardRef(ref.queue, ref.id);
      ctx.out.result({ id: name, state: forwarded.record.state, delivered: false }, () =>
        `Event ${name} is queued again; a running \`lumen relay start\` that hands on ${ref.queue === 'raw' ? "Meta's deliveries (--forward-raw)" : `${forwarded.record.object} events (--events)`} delivers it.`,
      );
      return 'ok';
    }
    const { queued: _, ...delivery } = forwarded;
    ctx.out.result(missing ? { ...delivery, localApiMissing: missing } : delivery, () => {
      const lines = [
        forwarded.delivered
          ? `Delivered event ${forwarded.id} to ${forwarded.target} (${forwarded.status}) in ${forwarded.durationMs} ms.`
          : `Delivery of event ${forwarded.id} to ${forwarded.target} failed: ${forwarded.error}.`,
      ];
      lines.push(...printedLines(forwarded));
      if (missing) lines.push(`  ${missing}`);
      return lines.join('\n');
    });
    return forwarded.delivered ? 'ok' : 'failed';
  }
  const { id } = ref;
  // No spinner's ✓ here: a delivery that failed must not look like success.
  const result = await replayEvent(deps, workspace, { id, forwardTo: options.forwardTo, exec: options.exec, localApi });
  if (result.queued) {
    ctx.out.result({ id: result.event.id, state: result.event.state, delivered: false }, () =>
      `Event ${result.event.id} is queued again; a running \`lumen relay start --forward-to …\` (or --exec) delivers it.`,
    );
    return 'ok';
  }
  const { queued: _, ...delivery } = result;
  // Why a command had no local API (no relay, one from an older lumen, its key not here), for scripts too.
  const data = missing ? { ...delivery, localApiMissing: missing } : delivery;
  ctx.out.result(data, () => {
    const lines = [
      result.delivered
        ? `Delivered event ${id} to ${result.target} (${result.status}) in ${result.durationMs} ms.`
        : `Delivery of event ${id} to ${result.target} failed: ${result.error}.`,
    ];
    lines.push(...printedLines(result));
    for (const reply of result.replies) {
      lines.push(
        !reply.ok
          ? `  Reply not sent: ${reply.error}`
          : reply.pendingApproval
            ? `  Reply held for approval: ${reply.pendingApproval} (lumen approvals approve ${reply.pendingApproval}).`
            : reply.alreadySent
              ? `  Already replied: ${reply.id} (${reply.wamid})${reply.differs ? ', with another answer' : ''}; not sent again.`
              : `  Replied: ${reply.id} (${reply.wamid}).`,
      );
    }
    if (missing) lines.push(`  ${missing}`);
    return lines.join('\n');
  });
  return result.delivered && result.replies.every((r) => r.ok) ? 'ok' : 'failed';
}

/**
 * The running relay's local API and its key, if a relay runs on this LUMEN_HOME and offers one; else why the command
 * had none.
 */
async function runningLocalApi(
  ctx: Context,
  deps: Awaited<ReturnType<typeof serviceDeps>>,
): Promise<{ api?: { url: string; key: string }; missing?: string }> {
  const { runningRelay } = await import('../../../relay/state-file.js');
  const { LOCAL_API_KEY } = await import('../../../relay/server.js');
  const relay = await runningRelay(join(ctx.paths.dataDir, 'relay.json'));
  const none = 'the command had no LUMEN_API_URL or LUMEN_API_KEY.';
  if (relay && relay.localApiUrl === undefined) {
    // relay.json from a lumen before the local API was named there
    return { missing: `The running relay (pid ${relay.pid}) was started by an older lumen and names no local API: ${none} Restart it (lumen relay stop, then lumen relay start) to give the command its local API.` };
  }
  if (!relay?.localApiUrl) return { missing: `No running relay here offers its local API: ${none}` };
  const key = await (await deps.secrets()).get(LOCAL_API_KEY);
  if (!key) {
    return { missing: `The running relay offers its local API, but its key is not in this LUMEN_HOME's secret store (another LUMEN_SECRET_STORE or LUMEN_MASTER_KEY?): ${none}` };
  }
  return { api: { url: relay.localApiUrl, key } };
}

/** What a command printed during a replay, a line each (`  stdout: …`, `  stderr: …`). */
function printedLines(printed: { stdout: string | null; stderr: string | null }): string[] {
  const lines: string[] = [];
  for (const [stream, text] of [['stdout', printed.stdout], ['stderr', printed.stderr]] as const) {
    for (const line of (text ?? '').split('\n')) if (line.trim() !== '') lines.push(`  ${stream}: ${line}`);
  }
  return lines;
}
