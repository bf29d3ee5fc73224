import { UserError } from '../errors.js';
import type { ServiceDeps } from '../services/deps.js';
import type { MessageInput } from '../services/messages/compose.js';
import { DEFAULT_SEND_RATE, DEFAULT_WORKSPACE_SEND_RATE } from '../services/messages/outbox.js';
import { sendOne } from '../services/messages/send.js';
import { messageFromObject } from '../services/messages/short-form.js';
import type { Integration, Interaction } from '../store/types.js';
import type { DeliveryResult } from './dispatch.js';
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
 * Sends what the user's code answered (and `--auto-reply`), to the sender, through the same outbox as `lumen send`:
 * checked, held for approval when the policy says so, rate-limited, claimed once. Each reply's idempotency key is
 * the interaction's id and its position, so a message delivered again after a crash is not answered twice.
 */
export class Replier {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly deps: ServiceDeps & { onEvent: RelayEventSink },
    private readonly integrationOf: (id: string) => Integration | undefined,
    /** `--auto-reply`: the text to send, or `true` for what the `--exec` command printed. */
    private readonly autoReply?: string | true,
  ) {}

  /** After a successful delivery: the consumer's replies, or else the auto-reply. */
  delivered(interaction: Interaction, result?: DeliveryResult): void {
    const replies = repliesIn(result?.output);
    if (replies) {
      // In the order given: each is sent once the one before it has Meta's answer.
      let previous: Promise<void> = Promise.resolve();
      replies.forEach((reply, i) => {
        previous = this.send(interaction, `reply:${interaction.id}:${i}`, () => messageFromObject(reply, `reply ${i + 1}`), 'reply', previous);
      });
      return;
    }
    const output = (result?.output ?? '').trim();
    // Meant as a reply and broken (cut short, a stray comma): said, rather than dropped without a word.
    const notJson = output.startsWith('{') && /"(?:reply|messages)"\s*:/.test(output) ? jsonProblem(output) : undefined;
    if (notJson !== undefined) {
      this.deps.onEvent({
        event: 'reply',
        interactionId: interaction.id,
        to: interaction.from,
        ok: false,
        error: `the answer starts with "{" but is not JSON (${notJson}), so no reply was sent`,
      });
    }
    if (this.autoReply === undefined) return;
    // A command's JSON that is no reply is not text for the customer.
    if (this.autoReply === true && output.startsWith('{')) return;
    const text = this.autoReply === true ? output : this.autoReply;
    if (!text) return;
    void this.send(interaction, `auto-reply:${interaction.id}`, () => ({ kind: 'text', text, replyTo: interaction.wamid }), 'auto_reply');
  }

  private send(interaction: Interaction, key: string, message: () => MessageInput, source: 'reply' | 'auto_reply', after?: Promise<void>): Promise<void> {
    const integration = this.integrationOf(interaction.integrationId);
    if (!integration) return Promise.resolve();
    const report = (outcome: { ok: boolean; wamid?: string; id?: string; pendingApproval?: string; alreadySent?: boolean; error?: string }) =>
      this.deps.onEvent({ event: source, interactionId: interaction.id, to: interaction.from, ...outcome });
    const work = (async () => {
      await after?.catch(() => undefined);
      try {
        const workspace = await this.deps.store.workspaces.findById(integration.workspaceId);
        if (!workspace) return;
        const result = await sendOne(this.deps, {
          workspace,
          integration,
          to: interaction.from,
          message: message(),
          idempotencyKey: key,
          rates: { perIntegration: DEFAULT_SEND_RATE, perWorkspace: DEFAULT_WORKSPACE_SEND_RATE },
          source,
          inReplyTo: interaction.id,
        });
        if (result.outcome === 'pending_approval') return report({ ok: true, id: result.message.id, pendingApproval: result.message.id });
        report({ ok: true, id: result.message.id, wamid: result.message.wamid ?? '', ...(result.outcome === 'already_sent' ? { alreadySent: true } : {}) });
      } catch (error) {
        report({ ok: false, error: error instanceof UserError || error instanceof Error ? error.message : String(error) });
      }
    })();
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
    return work;
  }

  /** Waits for the replies under way (at shutdown). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }
}
