import { UserError } from '../errors.js';
import type { ServiceDeps } from '../services/deps.js';
import type { MessageInput } from '../services/messages/compose.js';
import { DEFAULT_SEND_RATE, DEFAULT_WORKSPACE_SEND_RATE, SENT_STATES } from '../services/messages/outbox.js';
import { sendOne } from '../services/messages/send.js';
import { messageFromObject } from '../services/messages/short-form.js';
import type { Integration, Interaction } from '../store/types.js';
import { DISPATCH_LEASE_MS, keepClaims, type DeliveryResult } from './dispatch.js';
import type { RelayEventSink } from './events.js';

/**
 * The messages a consumer answered with: a forward target's 2xx body, or what an `--exec` command printed, when it
 * is JSON `{"reply": MESSAGE}` or `{"messages": [MESSAGE, …]}`. Undefined when it is not a reply (plain output).
 */
export function repliesIn(output: string | undefined): unknown[] | undefined {
  const text = output?.trim();
  if (!text || !text.startsWith('{')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const answer = parsed as Record<string, unknown>;
  if (Object.hasOwn(answer, 'reply')) return [answer.reply];
  if (Object.hasOwn(answer, 'messages') && Array.isArray(answer.messages)) return answer.messages;
  return undefined;
}

/** Why `text` is not JSON, or undefined when it is. */
function jsonProblem(text: string): string | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * One reply to send, as kept with the delivery until it is sent: the key it goes under, and the message (the
 * user's code's short form, or the auto-reply's text).
 */
export interface PlannedReply {
  key: string;
  source: 'reply' | 'auto_reply';
  /** `{"reply": …}` / one of `{"messages": […]}`, as the user's code gave it (checked only when it is sent). */
  reply?: unknown;
  /** The auto-reply's text (sent as a reply to the message). */
  text?: string;
}

/** What to send after a delivery, and what was wrong with an answer meant as a reply (said when it is sent). */
export interface ReplyPlan {
  replies: PlannedReply[];
  brokenAnswer?: string;
}

/** A delivery whose replies are kept in the database: its event, and the replies as stored (see markDelivered). */
export interface KeptReplies {
  eventId: number;
  json: string;
}

/**
 * Sends what the user's code answered (and `--auto-reply`), to the sender, through the same outbox as `lumen send`:
 * checked, held for approval when the policy says so, rate-limited, claimed once. Each reply's idempotency key is
 * the interaction's id and its position, so a message delivered again after a crash is not answered twice.
 *
 * The dispatcher keeps the plan (`plan`) with the delivered state, in one statement, and the replier forgets it
 * once every reply was sent or refused: a relay killed in between leaves it, and `resume` sends what is left under
 * the same keys (a reply sent already is not sent again; one whose send was under way is never sent twice).
 */
export class Replier {
  private readonly pending = new Set<Promise<void>>();
  /** The events whose kept replies this replier is sending: their claims are renewed until it is done. */
  private readonly holding = new Set<number>();
  private stopRenewing: (() => void) | undefined;

  constructor(
    private readonly deps: ServiceDeps & { onEvent: RelayEventSink },
    private readonly integrationOf: (id: string) => Integration | undefined,
    /** `--auto-reply`: the text to send, or `true` for what the `--exec` command printed. */
    private readonly autoReply?: string | true,
  ) {}

  /**
   * What to send after a successful delivery: the consumer's replies, or else the auto-reply (none: nothing). An
   * answer meant as a reply that is not JSON is said (by send) rather than dropped.
   */
  plan(interaction: Interaction, result?: DeliveryResult): ReplyPlan {
    const replies = repliesIn(result?.output);
    if (replies) return { replies: replies.map((reply, i) => ({ key: `reply:${interaction.id}:${i}`, source: 'reply', reply })) };
    const output = (result?.output ?? '').trim();
    // Meant as a reply and broken (cut short, a stray comma).
    const notJson = output.startsWith('{') && /"(?:reply|messages)"\s*:/.test(output) ? jsonProblem(output) : undefined;
    const broken = notJson === undefined ? {} : { brokenAnswer: `the answer starts with "{" but is not JSON (${notJson}), so no reply was sent` };
    if (this.autoReply === undefined) return { replies: [], ...broken };
    // A command's JSON that is no reply is not text for the customer.
    if (this.autoReply === true && output.startsWith('{')) return { replies: [], ...broken };
    const text = this.autoReply === true ? output : this.autoReply;
    if (!text) return { replies: [], ...broken };
    return { replies: [{ key: `auto-reply:${interaction.id}`, source: 'auto_reply', text }], ...broken };
  }

  /** After a successful delivery whose replies are not kept (no dispatcher): plans and sends them. */
  delivered(interaction: Interaction, result?: DeliveryResult): void {
    this.send(interaction, this.plan(interaction, result));
  }

  /**
   * Sends the planned replies in order, each once the one before it has Meta's answer; with `kept`, holds that
   * event's claim meanwhile, and forgets the kept plan when the last is done. `tried`: the keys not to send again.
   */
  send(interaction: Interaction, plan: ReplyPlan, kept?: KeptReplies, tried?: ReadonlySet<string>): Promise<void> {
    if (plan.brokenAnswer) this.deps.onEvent({ event: 'reply', interactionId: interaction.id, to: interaction.from, ok: false, error: plan.brokenAnswer });
    if (kept) this.hold(kept.eventId);
    let previous: Promise<void> = Promise.resolve();
    plan.replies.forEach((planned, i) => {
      if (tried?.has(planned.key)) return;
      previous = this.sendOne(interaction, planned, () => replyMessage(interaction, planned, i), previous);
    });
    if (!kept) return previous;
    const done = previous
      .then(() => this.deps.store.dispatch.repliesSent(kept.eventId, kept.json))
      .catch((error: unknown) =>
        // The claim runs out and the plan is taken up again (what was sent is not sent twice).
        this.deps.onEvent({ event: 'error', message: `Could not record that the replies to ${interaction.id} were sent: ${(error as Error).message}` }),
      )
      .finally(() => this.release(kept.eventId));
    this.track(done);
    return done;
  }

  /** Takes up replies a relay left (killed while sending them): what is not sent yet is sent now. */
  async resume(kept: KeptReplies & { interactionId: string }): Promise<void> {
    const interaction = await this.deps.store.inbox.findInteraction(kept.interactionId);
    if (!interaction) {
      // Purged meanwhile: nobody to answer.
      await this.deps.store.dispatch.repliesSent(kept.eventId, kept.json);
      return;
    }
    let replies: PlannedReply[] = [];
    try {
      const parsed: unknown = JSON.parse(kept.json);
      if (Array.isArray(parsed)) replies = parsed as PlannedReply[];
    } catch {
      // (written from plan(): always JSON; nothing to send otherwise)
    }
    // A reply Meta refused (or that failed for good) was tried: the plan tries each reply once, so it is not sent
    // again; the queued one a kill stranded, and those never tried, are sent now.
    const tried = new Set<string>();
    for (const planned of replies) {
      const earlier = await this.deps.store.outbound.findByIdempotencyKey(interaction.integrationId, planned.key);
      if (earlier?.state === 'failed') tried.add(planned.key);
    }
    await this.send(interaction, { replies }, kept, tried);
  }

  private hold(eventId: number): void {
    this.holding.add(eventId);
    this.stopRenewing ??= keepClaims(this.holding, (ids, until) => this.deps.store.dispatch.renewClaims(ids, until), this.deps.now, DISPATCH_LEASE_MS);
  }

  private release(eventId: number): void {
    this.holding.delete(eventId);
    if (this.holding.size > 0) return;
    this.stopRenewing?.();
    this.stopRenewing = undefined;
  }

  private track(work: Promise<void>): void {
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }

  private sendOne(interaction: Interaction, planned: PlannedReply, message: () => MessageInput, after: Promise<void>): Promise<void> {
    const integration = this.integrationOf(interaction.integrationId);
    if (!integration) return after;
    const source = planned.source;
    const report = (outcome: { ok: boolean; wamid?: string; id?: string; pendingApproval?: string; alreadySent?: boolean; differs?: boolean; error?: string }) =>
      this.deps.onEvent({ event: source, interactionId: interaction.id, to: interaction.from, ...outcome });
    const work = (async () => {
      await after.catch(() => undefined);
      try {
        const workspace = await this.deps.store.workspaces.findById(integration.workspaceId);
        if (!workspace) return;
        const result = await sendOne(this.deps, {
          workspace,
          integration,
          to: interaction.from,
          message: message(),
          idempotencyKey: planned.key,
          rates: { perIntegration: DEFAULT_SEND_RATE, perWorkspace: DEFAULT_WORKSPACE_SEND_RATE },
          source,
          inReplyTo: interaction.id,
        });
        if (result.outcome === 'pending_approval') return report({ ok: true, id: result.message.id, pendingApproval: result.message.id });
        report({ ok: true, id: result.message.id, wamid: result.message.wamid ?? '', ...(result.outcome === 'already_sent' ? { alreadySent: true } : {}) });
      } catch (error) {
        // This message was answered before, with another answer (a replay whose handler answers differently): the
        // earlier reply stands, and a message is answered once.
        const earlier = error instanceof UserError && error.code === 'idempotency_conflict' ? await this.deps.store.outbound.findByIdempotencyKey(integration.id, planned.key) : undefined;
        if (earlier && SENT_STATES.has(earlier.state)) return report({ ok: true, id: earlier.id, wamid: earlier.wamid ?? '', alreadySent: true, differs: true });
        if (earlier?.state === 'pending_approval') return report({ ok: true, id: earlier.id, pendingApproval: earlier.id, differs: true });
        if (earlier) {
          return report({ ok: false, id: earlier.id, error: `this message was answered before with another reply (${earlier.id}), which is ${earlier.state.replace('_', ' ')}; the new answer is not sent (a message is answered once)` });
        }
        report({ ok: false, error: error instanceof UserError || error instanceof Error ? error.message : String(error) });
      }
    })();
    this.track(work);
    return work;
  }

  /** Waits for the replies under way (at shutdown). */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }
}

function replyMessage(interaction: Interaction, planned: PlannedReply, i: number): MessageInput {
  if (planned.source === 'auto_reply') return { kind: 'text', text: planned.text ?? '', replyTo: interaction.wamid };
  return messageFromObject(planned.reply, `reply ${i + 1}`);
}
