import { UsageError, UserError } from '../errors.js';
import type { ServiceDeps } from '../services/deps.js';
import type { DispatchEvent, Workspace } from '../store/types.js';
import { forwardRef, type ForwardRecord, type QueuedForward } from '../store/repos/forward-queue.js';
import { DISPATCH_LEASE_MS, execTarget, forwardTarget, keepClaims, keptJson, mediaView, withoutSecrets } from './dispatch.js';
import { commandDestination, urlDestination } from './forwarder.js';
import type { RelayEvent } from './events.js';
import { Replier, repliesIn } from './replies.js';
import { relaySigningSecret } from './server.js';

/** What became of one reply the user's code answered with (as the relay reports it). */
export interface ReplayReply {
  ok: boolean;
  id?: string;
  wamid?: string;
  pendingApproval?: string;
  /** It had been sent before (by the relay or an earlier replay), under the same idempotency key: not sent again. */
  alreadySent?: boolean;
  /** With alreadySent: what was sent before is another answer than this one, which is not sent. */
  differs?: boolean;
  error?: string;
}

/** How a replay's delivery to a target went. */
export interface ReplayDelivery {
  queued: false;
  delivered: boolean;
  target: string;
  status: number | null;
  error: string | null;
  durationMs: number;
  /** What an `--exec` command printed (stdout only when it is not a reply it sent); null for a forward target. */
  stdout: string | null;
  stderr: string | null;
}

export type ReplayResult = { queued: true; event: DispatchEvent } | (ReplayDelivery & { id: number; replies: ReplayReply[] });

/**
 * `lumen events replay`: delivers one stored message again, now to the target given (signed like the relay's), or
 * queues it again for the running relay. A delivery made here is handled like one the relay made: the command gets
 * the running relay's local API (`localApi`) when there is one, and what the user's code answers with
 * (`{"reply": …}`) is sent, under the same idempotency keys as the relay's, so a message is never answered twice.
 */
export async function replayEvent(
  deps: ServiceDeps,
  workspace: Workspace,
  request: {
    id: number;
    forwardTo?: string | undefined;
    exec?: string | undefined;
    /** The running relay's local API, for the command's LUMEN_API_URL/LUMEN_API_KEY and media URLs. */
    localApi?: { url: string; key: string } | undefined;
  },
): Promise<ReplayResult> {
  if (request.forwardTo && request.exec) throw new UsageError('Choose --forward-to or --exec, not both.');
  if (request.forwardTo !== undefined && !/^https?:\/\/[^/\s]+/i.test(request.forwardTo)) {
    throw new UsageError(`--forward-to must be an http(s) URL; got "${request.forwardTo}".`);
  }
  const { store } = deps;
  const event = await store.dispatch.find(request.id);
  if (!event || event.workspaceId !== workspace.id) {
    throw new UserError(`No event ${request.id} in workspace ${workspace.name}.`, { code: 'event_not_found', hint: 'See `lumen events list`.', kind: 'not_found' });
  }
  const interaction = await store.inbox.findInteraction(event.interactionId);
  if (!interaction) {
    throw new UserError(`The message of event ${request.id} was purged; there is nothing to deliver.`, { code: 'interaction_not_found', kind: 'not_found' });
  }
  if (!request.forwardTo && !request.exec) {
    return { queued: true, event: await store.dispatch.requeue(interaction.id, workspace.id, deps.now().toISOString()) };
  }
  const api = request.localApi;
  const target = request.forwardTo
    ? forwardTarget(request.forwardTo, await relaySigningSecret(await deps.secrets()), deps.now)
    : execTarget(request.exec!, deps.env, (): Record<string, string> => (api ? { LUMEN_API_URL: api.url, LUMEN_API_KEY: api.key } : {}));
  const media = await store.media.forInteraction(interaction.id);
  const mediaUrl = media && api ? `${api.url}/v1/media/${encodeURIComponent(media.mediaId)}` : null;
  const started = deps.now().getTime();
  const result = await withEventClaim(deps, request.id, () => target.deliver(interaction, { media: media ? mediaView(media, mediaUrl) : null }));
  const durationMs = deps.now().getTime() - started;
  const replies: ReplayReply[] = [];
  if (result.ok) {
    const integration = await store.integrations.findById(interaction.integrationId);
    const onEvent = (e: RelayEvent) => {
      if (e.event !== 'reply') return;
      const { event: _event, interactionId: _interaction, to: _to, ...reply } = e;
      replies.push(reply);
    };
    const replier = new Replier({ ...deps, onEvent }, (id) => (id === integration?.id ? integration : undefined));
    // As the relay does: the replies are kept with the record until they are sent (a running relay sends what a
    // replay killed meanwhile left, once the claim runs out).
    const plan = replier.plan(interaction, result);
    const json = keptJson(plan);
    const leaseUntil = new Date(deps.now().getTime() + DISPATCH_LEASE_MS).toISOString();
    await store.dispatch.markDelivered(request.id, {
      target: target.description,
      status: result.status,
      durationMs,
      at: deps.now().toISOString(),
      ...(json ? { replies: { json, leaseUntil } } : {}),
    });
    void replier.send(interaction, plan, json ? { eventId: request.id, json } : undefined);
    await replier.settle();
  }
  const isCommand = request.exec !== undefined;
  return {
    queued: false,
    id: request.id,
    delivered: result.ok,
    target: target.description,
    status: result.status,
    error: result.error ?? null,
    durationMs,
    stdout: isCommand && !repliesIn(result.output) ? (result.output ?? '') : null,
    stderr: isCommand ? (result.errorOutput ?? '') : null,
    replies,
  };
}

/**
 * Runs a delivery of one event made outside the dispatcher (a replay) holding a claim on it, as the relay claims
 * what it delivers (renewed while a command runs): a running relay does not deliver it at the same moment, and one
 * delivering it right now makes the replay refuse. A delivery that went through is recorded by the caller
 * (markDelivered ends the claim); one that failed only ends it.
 */
export async function withEventClaim<R extends { ok: boolean }>(
  deps: Pick<ServiceDeps, 'store' | 'now'>,
  id: number,
  deliver: () => Promise<R>,
): Promise<R> {
  const { dispatch } = deps.store;
  if (!(await dispatch.claimOne(id, deps.now().toISOString(), new Date(deps.now().getTime() + DISPATCH_LEASE_MS).toISOString()))) {
    throw new UserError(`Event ${id} is being delivered right now (by a running relay, or another replay); nothing was delivered here.`, {
      code: 'event_busy',
      kind: 'conflict',
      hint: 'See how it went with `lumen events list`, or replay it again once that delivery is done.',
    });
  }
  // Renewed whatever the event's state: a replay of a delivered event holds its claim against another replay too.
  const stopRenewing = keepClaims(new Set([id]), (_ids, until) => dispatch.renewClaim(id, until), deps.now, DISPATCH_LEASE_MS);
  let result: R;
  try {
    result = await deliver();
  } catch (error) {
    await dispatch.releaseClaim(id);
    throw error;
  } finally {
    stopRenewing();
  }
  if (!result.ok) await dispatch.releaseClaim(id);
  return result;
}

/** An event's document or a raw delivery, as `lumen events` names it: `ev_N` or `raw_N`. */
export interface ForwardRef {
  queue: 'events' | 'raw';
  id: number;
}

export type ForwardReplayResult = { queued: true; record: ForwardRecord } | (ReplayDelivery & { id: string });

/** The item `ref` names in this workspace, or a not-found error naming it. */
export async function findForward(store: ServiceDeps['store'], workspace: Workspace, ref: ForwardRef): Promise<ForwardRecord & { item: QueuedForward }> {
  const found = await store.forwards[ref.queue].find(ref.id);
  if (!found || found.workspaceId !== workspace.id) {
    const name = forwardName(ref);
    throw new UserError(`No event ${name} in workspace ${workspace.name}.`, { code: 'event_not_found', hint: 'See `lumen events list`.', kind: 'not_found' });
  }
  return found;
}

export function forwardName(ref: ForwardRef): string {
  return forwardRef(ref.queue, ref.id);
}

/**
 * Delivers a non-message event's document (or, with --forward-raw, Meta's delivery) again, as the relay's forwarder
 * does: now to the target given (signed the same way, holding a claim so a running relay does not send it at the
 * same moment), or queued again for the running relay.
 */
export async function replayForward(
  deps: ServiceDeps,
  workspace: Workspace,
  request: { ref: ForwardRef; forwardTo?: string | undefined; exec?: string | undefined; localApi?: { url: string; key: string } | undefined },
): Promise<ForwardReplayResult> {
  if (request.forwardTo && request.exec) throw new UsageError('Choose --forward-to or --exec, not both.');
  if (request.forwardTo !== undefined && !/^https?:\/\/[^/\s]+/i.test(request.forwardTo)) {
    throw new UsageError(`--forward-to must be an http(s) URL; got "${request.forwardTo}".`);
  }
  const { ref } = request;
  const queue = deps.store.forwards[ref.queue];
  const found = await findForward(deps.store, workspace, ref);
  if (!request.forwardTo && !request.exec) return { queued: true, record: (await queue.requeue(ref.id, deps.now().toISOString()))! };
  const api = request.localApi;
  const destination = request.forwardTo
    ? urlDestination(request.forwardTo, await relaySigningSecret(await deps.secrets()), deps.now)
    : commandDestination(request.exec!, () => ({ ...withoutSecrets(deps.env ?? {}), ...(api ? { LUMEN_API_URL: api.url, LUMEN_API_KEY: api.key } : {}) }));
  const name = forwardName(ref);
  const leaseUntil = () => new Date(deps.now().getTime() + DISPATCH_LEASE_MS).toISOString();
  if (!(await queue.claimOne(ref.id, deps.now().toISOString(), leaseUntil()))) {
    throw new UserError(`Event ${name} is being delivered right now (by a running relay, or another replay); nothing was delivered here.`, {
      code: 'event_busy',
      kind: 'conflict',
      hint: 'See how it went with `lumen events list`, or replay it again once that delivery is done.',
    });
  }
  const stopRenewing = keepClaims(new Set([ref.id]), (_ids, until) => queue.renewClaim(ref.id, until), deps.now, DISPATCH_LEASE_MS);
  const started = deps.now().getTime();
  let result: Awaited<ReturnType<typeof destination.send>>;
  try {
    result = await destination.send(found.item);
  } catch (error) {
    await queue.releaseClaim(ref.id);
    throw error;
  } finally {
    stopRenewing();
  }
  const durationMs = deps.now().getTime() - started;
  if (result.ok) await queue.markDelivered(ref.id, result.status, deps.now().toISOString());
  else await queue.releaseClaim(ref.id);
  const isCommand = request.exec !== undefined;
  return {
    queued: false,
    id: name,
    delivered: result.ok,
    target: destination.description,
    status: result.status,
    error: result.error ?? null,
    durationMs,
    stdout: isCommand ? (result.output ?? '') : null,
    stderr: isCommand ? (result.errorOutput ?? '') : null,
  };
}
