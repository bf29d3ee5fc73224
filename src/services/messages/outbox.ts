import { randomBytes } from 'node:crypto';
import { UserError } from '../../errors.js';
import { GraphError, GraphNetworkError } from '../../graph/errors.js';
import type { GraphClient } from '../../graph/client.js';
import { sendMessage } from '../../graph/messages.js';
import { SEND_ERROR_REASONS } from '../../graph/explain.js';
import type { ServiceDeps } from '../deps.js';
import { longestRetriedCallMs } from '../../graph/retry.js';
import { longestAttemptMs } from '../../graph/timeouts.js';
import type { ApprovalPolicy, Integration, OutboundMessage, SendSlotToken, Workspace } from '../../store/types.js';
import { withText } from '../../store/repos/changes.js';

export function newOutboundId(): string {
  return `msg_${randomBytes(12).toString('hex')}`;
}

/**
 * The longest one send can take with its retries (the Graph client's timeouts and retry policy: 4 attempts of up to
 * 50 s, with up to 30 + 30 + 64 s between them, about 5.4 minutes). A send whose answer was never recorded (its process
 * died mid-send) keeps one of its key's `rate` places in the second until then, as one still waiting for Meta would.
 */
export const LONGEST_SEND_MS = longestRetriedCallMs(longestAttemptMs());

/**
 * Waits for a send slot of the number and of its workspace, taken in the database (shared by every process): the
 * grid spaces sends 1/rate apart, and a send starts only while fewer than `rate` of the key's sends may still reach
 * Meta within a second (each counts from its slot until a second after its answer), so no second at Meta's end ever
 * holds more than the rate, whatever the network's jitter. The rate kept is about rate / (1 s + the round trip).
 * Call slotAnswered with the token when the Graph call returns.
 */
export async function takeSendSlot(deps: ServiceDeps, integration: Integration, rates: SendRates, signal?: AbortSignal): Promise<SendSlotToken> {
  const wait = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  // A stop (Ctrl-C) ends the wait (its timer too, so the process can exit): nothing was sent yet.
  const sleep = (ms: number) => (signal ? abortableSleep(ms, signal) : wait(ms));
  const perIntegration = await numberSendRate(deps, integration, rates.perIntegration);
  const keys = [
    { key: `integration:${integration.id}`, intervalMs: 1000 / perIntegration, perSecond: perIntegration },
    { key: `workspace:${integration.workspaceId}`, intervalMs: 1000 / rates.perWorkspace, perSecond: rates.perWorkspace },
  ];
  return inTurn(deps.store, keys.map((k) => k.key).join(' '), async () => {
    for (let again = false; ; again = true) {
      const slot = await deps.store.sendSlots.take(keys, { nowMs: deps.now().getTime(), longestSendMs: LONGEST_SEND_MS, again });
      if (slot.taken) return slot.token;
      if (signal?.aborted) throw new StoppedBeforeSending();
      await sleep(slot.waitMs);
    }
  });
}

/** Thrown where a send stops on a signal before it was claimed: nothing went to Meta. */
class StoppedBeforeSending extends Error {}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new StoppedBeforeSending());
    const onAbort = () => {
      clearTimeout(timer);
      reject(new StoppedBeforeSending());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A stop a send obeys until it is claimed (then it finishes, so Meta's answer is recorded): `signal` aborts it, and
 * `sending` is told the moment it is past that point.
 */
export interface SendStop {
  signal: AbortSignal;
  sending(): void;
}

/** The one-line answer to a send stopped before it went to Meta (exit 3, as a cancelled command). */
export function stoppedBeforeSending(message?: OutboundMessage): UserError {
  return new UserError(`Stopped before sending: ${message ? `message ${message.id} to ${who(message)}` : 'the message'} was not sent.`, {
    code: 'send_cancelled',
    kind: 'cancelled',
    hint: message?.idempotencyKey ? 'Run the same command again to send it.' : undefined,
  });
}

/** Each store's senders waiting for a slot, by keys: the tail of the line. */
const lines = new WeakMap<object, Map<string, Promise<unknown>>>();

/**
 * Runs `take` after every earlier waiter for the same keys on this store has its slot (or failed): one waiter per
 * process and number polls the database, the others queue behind it in order. Without it every concurrent sender of
 * a bulk run (up to 64) woke at the same moment and raced for the same slot, a herd of queries per slot that left two
 * processes on one PostgreSQL a quarter under the rate. The bound itself is still the database's: this only orders
 * one process's askers.
 */
async function inTurn<T>(store: object, keys: string, take: () => Promise<T>): Promise<T> {
  let line = lines.get(store);
  if (line === undefined) lines.set(store, (line = new Map()));
  const ahead = line.get(keys);
  // The tail never rejects: a take that fails fails only its own sender, and the next in line goes on.
  const mine = (ahead ?? Promise.resolve()).then(take);
  const tail = mine.catch(() => undefined);
  line.set(keys, tail);
  try {
    return await mine;
  } finally {
    if (line.get(keys) === tail) line.delete(keys);
  }
}

/**
 * Records that the send's Graph call returned. A failure to record it is not the send's error: the send then holds
 * back its key until LONGEST_SEND_MS has passed, which is the safe side.
 */
export async function slotAnswered(deps: Pick<ServiceDeps, 'store' | 'now'>, token: SendSlotToken): Promise<void> {
  await deps.store.sendSlots.answered(token, deps.now().getTime()).catch(() => undefined);
}

/** Meta's default throughput per number; `--rate` raises it (up to 1,000 for numbers Meta has upgraded). */
export const DEFAULT_SEND_RATE = 80;
/** A number also on the WhatsApp Business app (coexistence) has a fixed throughput of 20 messages per second. */
export const COEXISTENCE_SEND_RATE = 20;

/** The number's rate: the default becomes 20/s for a coexistence number (an explicit other rate is kept). */
export async function numberSendRate(deps: Pick<ServiceDeps, 'store'>, integration: Integration, rate: number): Promise<number> {
  if (rate !== DEFAULT_SEND_RATE) return rate;
  const facts = await deps.store.facts.accountFacts(integration.id);
  return facts?.coexistence === true ? COEXISTENCE_SEND_RATE : rate;
}

/** All numbers of a workspace together; `--workspace-rate` changes it. */
export const DEFAULT_WORKSPACE_SEND_RATE = 1000;

export interface SendRates {
  /** Messages per second for this number. */
  perIntegration: number;
  /** Messages per second for the whole workspace, across every lumen process on the machine. */
  perWorkspace: number;
}


export interface NewOutbound {
  workspace: Workspace;
  integration: Integration;
  to: string;
  recipientKind?: 'phone' | 'user_id';
  kind: OutboundMessage['kind'];
  body: Record<string, unknown>;
  templateName?: string | null;
  templateLanguage?: string | null;
  idempotencyKey?: string | null;
  source: OutboundMessage['source'];
  inReplyTo?: string | null;
  forceWindow?: boolean;
}

export function policyCovers(policy: ApprovalPolicy | string, kind: OutboundMessage['kind']): boolean {
  return policy === 'all' || (policy === 'templates' && kind === 'template');
}

export type SubmitOutcome =
  | { kind: 'queued'; message: OutboundMessage }
  | { kind: 'pending_approval'; message: OutboundMessage }
  /** The idempotency key names a message Meta already accepted: nothing is sent again. */
  | { kind: 'already_sent'; message: OutboundMessage };

/** The states of a message Meta has taken. */
export const SENT_STATES: ReadonlySet<string> = new Set(['accepted', 'sent', 'delivered', 'read']);

/**
 * Writes the message to the outbox before anything is sent: queued, or pending approval when the workspace's
 * policy covers it. With an idempotency key, a re-run (or another process at the same moment) gets the message that
 * holds the key instead of adding another; the same key with a different message is an error, as with Stripe.
 */
export async function submitOutbound(deps: ServiceDeps, request: NewOutbound): Promise<SubmitOutcome> {
  const now = deps.now().toISOString();
  const pending = policyCovers(request.workspace.approvalPolicy, request.kind);
  const candidate: OutboundMessage = {
    id: newOutboundId(),
    workspaceId: request.workspace.id,
    integrationId: request.integration.id,
    wamid: null,
    recipient: request.to,
    recipientKind: request.recipientKind ?? 'phone',
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
  const { message, created } = await deps.store.outbound.insertOrFind(candidate);
  if (created) return { kind: pending ? 'pending_approval' : 'queued', message };
  return outcomeOfKey(message, candidate);
}

/**
 * What sending `request` would do now, for a dry run: the message its idempotency key already holds (already sent,
 * held for approval, or to be sent again: `queued`), or null when there is none (it would be sent as new). The same
 * errors as a real send: a key used for another message, a rejected message, one being sent.
 */
export async function previewOutbound(
  deps: ServiceDeps,
  request: Pick<NewOutbound, 'integration' | 'kind' | 'body' | 'idempotencyKey'>,
): Promise<SubmitOutcome | null> {
  if (!request.idempotencyKey) return null;
  const message = await deps.store.outbound.findByIdempotencyKey(request.integration.id, request.idempotencyKey);
  return message ? outcomeOfKey(message, { kind: request.kind, body: request.body, idempotencyKey: request.idempotencyKey }) : null;
}

/** What a send gets when its idempotency key already holds `message`. */
function outcomeOfKey(message: OutboundMessage, candidate: Pick<OutboundMessage, 'kind' | 'body' | 'idempotencyKey'>): SubmitOutcome {
  if (message.kind !== candidate.kind || !sameRequest(message, candidate.body)) {
    throw new UserError(`The idempotency key "${candidate.idempotencyKey}" was already used for a different message (${message.id}).`, {
      code: 'idempotency_conflict',
      hint: 'Use a new idempotency key (--idempotency-key, or the Idempotency-Key header of the local API) for a new message; reuse a key only to retry the same one.',
      kind: 'conflict',
    });
  }
  if (SENT_STATES.has(message.state)) return { kind: 'already_sent', message };
  if (message.state === 'pending_approval') return { kind: 'pending_approval', message };
  if (message.state === 'rejected') {
    throw new UserError(`Message ${message.id} with this idempotency key was rejected: ${message.rejectReason ?? ''}`, {
      code: 'message_rejected',
      hint: 'Use another --idempotency-key to send a new message.',
      kind: 'conflict',
    });
  }
  if (message.state === 'sending') throw alreadySending(message);
  // queued (never sent) or failed: deliverOutbound claims it, once, whoever else tries at the same time.
  return { kind: 'queued', message };
}

/**
 * Whether `body` is the message held under the key, as it was first sent: an edit since (made in the WhatsApp
 * Business app) changed its stored text, and the same request retried is still the same message.
 */
function sameRequest(message: OutboundMessage, body: Record<string, unknown>): boolean {
  const given = JSON.stringify(body);
  if (JSON.stringify(message.body) === given) return true;
  const first = message.previousTexts?.[0];
  return first !== undefined && JSON.stringify(withText(message.body, first.text)) === given;
}

/**
 * Sends a queued (or failed) message: waits for its rate slot (shared with every lumen process on this database),
 * claims the message (one conditional update: of all processes trying, one calls Meta), calls the Graph API
 * (transient errors retried with backoff by the client; never 190, 131047 or template errors) and records the wamid
 * or the error. A caller that loses the claim gets the result already recorded, or "already being sent". Throws a
 * one-line UserError when Meta refuses it.
 */
export async function deliverOutbound(
  deps: ServiceDeps,
  message: OutboundMessage,
  integration: Integration,
  rates: SendRates,
  stop?: SendStop,
): Promise<Delivered> {
  // The client first: creating it (reading the token) must not happen between a slot and its send.
  const graph = await deps.graphFor(integration);
  let slot: SendSlotToken;
  try {
    if (stop?.signal.aborted) throw new StoppedBeforeSending();
    slot = await takeSendSlot(deps, integration, rates, stop?.signal);
  } catch (error) {
    if (error instanceof StoppedBeforeSending) throw await stopped(deps, message);
    throw error;
  }
  // Answered once: when the Graph call returns (whatever it returned), or, when the claim is lost, without a call.
  let answer: Promise<void> | undefined;
  const answered = () => (answer ??= slotAnswered(deps, slot));
  try {
    if (stop?.signal.aborted) throw await stopped(deps, message);
    // From here on the send finishes whatever signal comes: told synchronously, before the claim.
    stop?.sending();
    return await claimAndSend(deps, message, integration, graph, answered);
  } finally {
    await answered();
  }
}

/** Records a queued message stopped before it was sent as failed (a re-run with its key sends it), and says so. */
async function stopped(deps: ServiceDeps, message: OutboundMessage): Promise<UserError> {
  await deps.store.outbound.abandonQueued(message.id, 'Stopped before it was sent (Ctrl-C or SIGTERM); nothing reached Meta.', deps.now().toISOString());
  return stoppedBeforeSending(message);
}

async function claimAndSend(
  deps: ServiceDeps,
  message: OutboundMessage,
  integration: Integration,
  graph: GraphClient,
  answered: () => Promise<void>,
): Promise<Delivered> {
  const claimed = await deps.store.outbound.claimForSending(message.id, deps.now().toISOString());
  if (!claimed) {
    const current = (await deps.store.outbound.findById(message.id)) ?? message;
    if (SENT_STATES.has(current.state)) return { message: current, alreadySent: true };
    if (current.state === 'sending') throw alreadySending(current);
    throw new UserError(`Message ${current.id} cannot be sent now: it is ${current.state.replace('_', ' ')}.`, {
      code: 'not_sendable',
      hint: `\`lumen messages show ${current.id}\` shows its history.`,
      kind: 'conflict',
    });
  }
  try {
    const response = await sendMessage(graph, integration.phoneNumberId, claimed.body, { retry: true }).finally(answered);
    const wamid = response.messages?.[0]?.id;
    if (!wamid) {
      // Meta said yes without a message id: the message may go out, so it stays "sending" (never sent twice).
      throw new UserError(`Meta accepted message ${claimed.id} but returned no message id, so its delivery cannot be tracked.`, {
        code: 'send_no_message_id',
        hint: `lumen will not send it again on its own (\`lumen messages show ${claimed.id}\`).`,
      });
    }
    await deps.store.outbound.markAccepted(claimed.id, wamid, deps.now().toISOString());
  } catch (error) {
    const graphError = error instanceof GraphError ? error : undefined;
    if ((error instanceof GraphNetworkError || error instanceof GraphError) && error.mayHaveArrived) {
      // Meta may have accepted it (a broken connection, an answer that cannot be read, a proxy's 5xx): leave it
      // "sending" (outcome unknown) so no re-run sends it a second time.
      throw outcomeUnknown(claimed, error);
    }
    if (!graphError && !(error instanceof GraphNetworkError)) {
      // Not an answer from Meta: leave it "sending" so a re-run does not send it twice blindly.
      throw error;
    }
    await deps.store.outbound.markFailed(
      claimed.id,
      {
        code: graphError?.code ?? null,
        title: graphError?.message ?? (error as Error).message,
        details: graphError?.details ?? null,
        fbtraceId: graphError?.fbtraceId ?? null,
      },
      deps.now().toISOString(),
    );
    throw explainSendError(error, claimed);
  }
  return { message: (await deps.store.outbound.findById(claimed.id))!, alreadySent: false };
}

/** What deliverOutbound did: sent it now, or found it sent already (by another process with the same message). */
export interface Delivered {
  message: OutboundMessage;
  alreadySent: boolean;
}

/**
 * The message is in "sending": another process holds its claim right now, or one stopped while Meta was answering.
 * Either way this caller sends nothing (lumen never sends a message twice on its own).
 */
export function alreadySending(message: OutboundMessage): UserError {
  return new UserError(
    `Message ${message.id} to ${who(message)} is already being sent by another lumen process, or lumen stopped while sending it: it may or may not have reached Meta.`,
    {
      code: 'send_outcome_unknown',
      // Not "send it anew" at once: while another request's send is under way, that would be the second message.
      hint: `Nothing is sent twice. Wait for its outcome: \`lumen messages show ${message.id}\` (or GET /v1/messages/${message.id}) has it within ${Math.ceil(LONGEST_SEND_MS / 60_000)} minutes; only if it is still unknown then and never arrived, send it anew with another idempotency key.`,
      kind: 'conflict',
    },
  );
}

export function explainSendError(error: unknown, message: OutboundMessage): unknown {
  if (error instanceof GraphNetworkError) {
    // Meta never got it: the message is kept (failed), and the id is what to look it up or retry by.
    return new UserError(`Message ${message.id} to ${who(message)} was not sent: ${error.message}`, {
      code: error.code,
      kind: error.kind,
      hint: `${error.hint ?? ''} \`lumen messages show ${message.id}\` shows it; ${
        message.idempotencyKey !== null ? 'running the same command again (same idempotency key) retries it' : 'running the same command again sends it (Meta never got this one)'
      }.`.trim(),
      cause: error,
    });
  }
  if (!(error instanceof GraphError)) return error;
  if (error.isAuthError) {
    return new UserError(`Meta rejected the access token (code 190): ${error.message}`, {
      code: 'auth_invalid_token',
      hint: 'Connect the number again with a valid permanent System User token (`lumen whatsapp connect --yes`).',
      kind: 'auth',
      cause: error,
    });
  }
  const known = error.code === undefined ? undefined : SEND_ERROR_REASONS[error.code];
  const detail = error.details && error.details !== error.message ? ` — ${error.details}` : '';
  return new UserError(
    `Not sent to ${who(message)}: ${known?.reason ?? error.message} (code ${error.code ?? error.status})${known ? '' : detail}.`,
    {
      code: 'send_failed',
      hint: [known?.hint, `Message ${message.id}${error.fbtraceId ? `, fbtrace_id ${error.fbtraceId}` : ''}.`].filter(Boolean).join(' '),
      cause: error,
    },
  );
}

/** A recipient as people read it: +digits for a phone number, the id itself for a username user. */
function who(message: OutboundMessage): string {
  return message.recipientKind === 'user_id' ? message.recipient : `+${message.recipient}`;
}

/** Meta may or may not have the message: lumen never sends it again on its own. */
export function outcomeUnknown(message: OutboundMessage, cause?: unknown): UserError {
  return new UserError(
    `Message ${message.id} to ${who(message)} may or may not have reached Meta: ${
      cause instanceof GraphError ? `the Graph API's answer (HTTP ${cause.status}) could not be read as Meta's` : 'lumen stopped or lost the connection while sending it'
    }.`,
    {
      code: 'send_outcome_unknown',
      kind: 'unavailable',
      hint: `lumen never sends it twice on its own (\`lumen messages show ${message.id}\`). If it did not arrive, send it anew with another --idempotency-key.`,
      cause,
    },
  );
}
