import { randomBytes } from 'node:crypto';
import { UserError } from '../../errors.js';
import type { GraphClient } from '../../graph/client.js';
import { GraphError, GraphNetworkError } from '../../graph/errors.js';
import { sendMessage } from '../../graph/messages.js';
import type { ApprovalPolicy, Integration, OutboundMessage, Store, Workspace } from '../../store/types.js';

export function newOutboundId(): string {
  return `msg_${randomBytes(12).toString('hex')}`;
}

/**
 * Sends are spaced this much wider than 1/rate, so the jitter between taking a slot and the request reaching Meta
 * never puts rate + 1 sends in one second; the achieved rate stays within 2 % of the one set.
 */
const SPACING_MARGIN = 1.015;

/** One slot-taker at a time per store in this process: the others wait in memory, not in SQLite. */
const slotGates = new WeakMap<object, Promise<unknown>>();

async function takeSendSlot(deps: OutboxDeps, integration: Integration, rates: SendRates): Promise<void> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const keys = [
    { key: `integration:${integration.id}`, intervalMs: (1000 / rates.perIntegration) * SPACING_MARGIN },
    { key: `workspace:${integration.workspaceId}`, intervalMs: (1000 / rates.perWorkspace) * SPACING_MARGIN },
  ];
  const previous = slotGates.get(deps.store) ?? Promise.resolve();
  const mine = previous.then(async () => {
    for (;;) {
      const wait = await deps.store.sendSlots.take(keys, Date.now());
      if (wait === 0) return;
      await sleep(wait);
    }
  });
  slotGates.set(deps.store, mine.catch(() => {}));
  await mine;
}

/** Meta's default throughput per number; `--rate` raises it (up to 1,000 for numbers Meta has upgraded). */
export const DEFAULT_SEND_RATE = 80;
/** All numbers of a workspace together; `--workspace-rate` changes it. */
export const DEFAULT_WORKSPACE_SEND_RATE = 1000;

export interface SendRates {
  /** Messages per second for this number. */
  perIntegration: number;
  /** Messages per second for the whole workspace, across every lumen process on the machine. */
  perWorkspace: number;
}

export interface OutboxDeps {
  store: Store;
  /** The Graph client of an integration (its access token). */
  graphFor(integration: Integration): Promise<GraphClient>;
  now(): Date;
  sleep?: (ms: number) => Promise<void>;
}

export interface NewOutbound {
  workspace: Workspace;
  integration: Integration;
  to: string;
  kind: 'text' | 'template';
  body: Record<string, unknown>;
  templateName?: string | null;
  templateLanguage?: string | null;
  idempotencyKey?: string | null;
  source: OutboundMessage['source'];
  inReplyTo?: string | null;
  forceWindow?: boolean;
}

export function policyCovers(policy: ApprovalPolicy | string, kind: 'text' | 'template'): boolean {
  return policy === 'all' || (policy === 'templates' && kind === 'template');
}

export type SubmitOutcome =
  | { kind: 'queued'; message: OutboundMessage }
  | { kind: 'pending_approval'; message: OutboundMessage }
  /** The idempotency key names a message Meta already accepted: nothing is sent again. */
  | { kind: 'already_sent'; message: OutboundMessage };

const SENT_STATES = new Set(['accepted', 'sent', 'delivered', 'read']);

/**
 * Writes the message to the outbox before anything is sent: queued, or pending approval when the workspace's
 * policy covers it. With an idempotency key, a re-run finds the earlier message instead of adding another.
 */
export async function submitOutbound(deps: OutboxDeps, request: NewOutbound): Promise<SubmitOutcome> {
  const now = deps.now().toISOString();
  if (request.idempotencyKey) {
    const existing = await deps.store.outbound.findByIdempotencyKey(request.integration.id, request.idempotencyKey);
    if (existing) {
      if (SENT_STATES.has(existing.state)) return { kind: 'already_sent', message: existing };
      if (existing.state === 'pending_approval') return { kind: 'pending_approval', message: existing };
      if (existing.state === 'rejected') {
        throw new UserError(`Message ${existing.id} with this idempotency key was rejected: ${existing.rejectReason ?? ''}`, {
          code: 'message_rejected',
          hint: 'Use another --idempotency-key to send a new message.',
        });
      }
      if (existing.state === 'sending') throw outcomeUnknown(existing);
      // queued (never sent) or failed: try again, same row.
      await deps.store.outbound.requeue(existing.id, now);
      return { kind: 'queued', message: (await deps.store.outbound.findById(existing.id))! };
    }
  }
  const pending = policyCovers(request.workspace.approvalPolicy, request.kind);
  const message: OutboundMessage = {
    id: newOutboundId(),
    workspaceId: request.workspace.id,
    integrationId: request.integration.id,
    wamid: null,
    recipient: request.to,
    kind: request.kind,
    body: request.body,
    state: pending ? 'pending_approval' : 'queued',
    errorCode: null,
    errorTitle: null,
    errorDetails: null,
    fbtraceId: null,
    source: request.source,
    inReplyTo: request.inReplyTo ?? null,
    idempotencyKey: request.idempotencyKey ?? null,
    templateName: request.templateName ?? null,
    templateLanguage: request.templateLanguage ?? null,
    forceWindow: request.forceWindow ?? false,
    approvedBy: null,
    approvedAt: null,
    rejectedBy: null,
    rejectedAt: null,
    rejectReason: null,
    attempts: 0,
    createdAt: now,
    updatedAt: now,
  };
  await deps.store.outbound.insert(message);
  return { kind: pending ? 'pending_approval' : 'queued', message };
}

/**
 * Sends a queued message: waits for its rate slot (shared with every lumen process on this database), calls the
 * Graph API (transient errors retried with backoff by the client; never 190, 131047 or template errors) and
 * records the wamid or the error. Throws a one-line UserError when Meta refuses it.
 */
export async function deliverOutbound(
  deps: OutboxDeps,
  message: OutboundMessage,
  integration: Integration,
  rates: SendRates,
): Promise<OutboundMessage> {
  // The client first: creating it (reading the token) must not happen between a slot and its send.
  const graph = await deps.graphFor(integration);
  await takeSendSlot(deps, integration, rates);
  await deps.store.outbound.markSending(message.id, deps.now().toISOString());
  try {
    const response = await sendMessage(graph, integration.phoneNumberId, message.body, { retry: true });
    const wamid = response.messages?.[0]?.id;
    if (!wamid) throw new Error('The Graph API accepted the message but returned no message id.');
    await deps.store.outbound.markAccepted(message.id, wamid, deps.now().toISOString());
  } catch (error) {
    const graphError = error instanceof GraphError ? error : undefined;
    if (error instanceof GraphNetworkError && error.mayHaveArrived) {
      // Meta may have accepted it: leave it "sending" (outcome unknown) so no re-run sends it a second time.
      throw outcomeUnknown(message, error);
    }
    if (!graphError && !(error instanceof GraphNetworkError)) {
      // Not an answer from Meta (e.g. a bug): leave it "sending" so a re-run does not send it twice blindly.
      throw error;
    }
    await deps.store.outbound.markFailed(
      message.id,
      {
        code: graphError?.code ?? null,
        title: graphError?.message ?? (error as Error).message,
        details: graphError?.details ?? null,
        fbtraceId: graphError?.fbtraceId ?? null,
      },
      deps.now().toISOString(),
    );
    throw explainSendError(error, message);
  }
  return (await deps.store.outbound.findById(message.id))!;
}

const SEND_REASONS: Record<number, { reason: string; hint?: string }> = {
  131047: {
    reason: 'more than 24 hours have passed since the customer last wrote',
    hint: 'Send an approved template instead (lumen send --template …).',
  },
  131026: { reason: 'the message could not be delivered (the number may not use WhatsApp, or has an old app)' },
  131051: { reason: 'this message type is not supported' },
  131008: { reason: 'a required parameter is missing' },
  131009: { reason: 'a parameter value is not valid' },
  132000: { reason: 'the number of template parameters does not match the template', hint: 'Run `lumen templates sync`: the template may have changed.' },
  132001: { reason: 'the template does not exist in that language at Meta', hint: 'Run `lumen templates sync` and check the name and --lang.' },
  132015: { reason: 'the template is paused for low quality' },
  132016: { reason: 'the template is disabled for low quality' },
  130429: { reason: 'the number reached its throughput limit', hint: 'Lower --rate.' },
  131056: { reason: 'too many messages to this person in a short time (pair rate limit)', hint: 'Wait a few seconds between messages to the same person.' },
  368: { reason: 'the account is temporarily blocked for policy violations' },
};

export function explainSendError(error: unknown, message: OutboundMessage): unknown {
  if (!(error instanceof GraphError)) return error;
  if (error.isAuthError) {
    return new UserError(`Meta rejected the access token (code 190): ${error.message}`, {
      code: 'auth_invalid_token',
      hint: 'Connect the number again with a valid permanent System User token (`lumen whatsapp connect --yes`).',
      kind: 'auth',
      cause: error,
    });
  }
  const known = error.code === undefined ? undefined : SEND_REASONS[error.code];
  const detail = error.details && error.details !== error.message ? ` — ${error.details}` : '';
  return new UserError(
    `Not sent to +${message.recipient}: ${known?.reason ?? error.message} (code ${error.code ?? error.status})${known ? '' : detail}.`,
    {
      code: 'send_failed',
      hint: [known?.hint, `Message ${message.id}${error.fbtraceId ? `, fbtrace_id ${error.fbtraceId}` : ''}.`].filter(Boolean).join(' '),
      cause: error,
    },
  );
}

/** Meta may or may not have the message: lumen never sends it again on its own. */
export function outcomeUnknown(message: OutboundMessage, cause?: unknown): UserError {
  return new UserError(
    `Message ${message.id} to +${message.recipient} may or may not have reached Meta: lumen stopped or lost the connection while sending it.`,
    {
      code: 'send_outcome_unknown',
      hint: `lumen never sends it twice on its own (\`lumen messages show ${message.id}\`). If it did not arrive, send it anew with another --idempotency-key.`,
      cause,
    },
  );
}
