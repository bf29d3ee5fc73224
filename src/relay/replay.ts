import { UsageError, UserError } from '../errors.js';
import type { ServiceDeps } from '../services/deps.js';
import type { DispatchEvent, Workspace } from '../store/types.js';
import { execTarget, forwardTarget, mediaView } from './dispatch.js';
import { relaySigningSecret } from './server.js';

export type ReplayResult =
  | { queued: true; event: DispatchEvent }
  | { queued: false; id: number; delivered: boolean; target: string; status: number | null; error: string | null; durationMs: number };

/**
 * `lumen events replay`: delivers one stored message again, now to the target given (signed like the relay's), or
 * queues it again for the running relay. A delivery made here is recorded like one the relay made.
 */
export async function replayEvent(
  deps: Pick<ServiceDeps, 'store' | 'secrets' | 'now' | 'env'>,
  workspace: Workspace,
  request: { id: number; forwardTo?: string | undefined; exec?: string | undefined },
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
  const target = request.forwardTo
    ? forwardTarget(request.forwardTo, await relaySigningSecret(await deps.secrets()), deps.now)
    : execTarget(request.exec!, deps.env);
  const media = await store.media.forInteraction(interaction.id);
  const started = deps.now().getTime();
  const result = await target.deliver(interaction, { media: media ? mediaView(media, null) : null });
  const durationMs = deps.now().getTime() - started;
  if (result.ok) {
    await store.dispatch.markDelivered(request.id, { target: target.description, status: result.status, durationMs, at: deps.now().toISOString() });
  }
  return { queued: false, id: request.id, delivered: result.ok, target: target.description, status: result.status, error: result.error ?? null, durationMs };
}
