import { textMessageBody } from '../graph/messages.js';
import { DEFAULT_SEND_RATE, DEFAULT_WORKSPACE_SEND_RATE, deliverOutbound, submitOutbound, type OutboxDeps } from '../services/messages/outbox.js';
import type { Integration, Interaction } from '../store/types.js';
import type { DeliveryResult } from './dispatch.js';
import type { RelayEventSink } from './events.js';

/**
 * `--auto-reply`: answers each inbound message, through the outbox like any send (recorded first, held for approval
 * when the workspace's policy covers free-form text, claimed once). Its idempotency key is the interaction's id, so
 * a message delivered again after a crash is not answered twice.
 */
export class AutoReplier {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly deps: OutboxDeps & { onEvent: RelayEventSink },
    /** The text to send, or `true` for what the `--exec` command printed. */
    private readonly text: string | true,
    private readonly integrationOf: (id: string) => Integration | undefined,
  ) {}

  reply(interaction: Interaction, result?: DeliveryResult): void {
    const text = this.text === true ? (result?.output ?? '').trim() : this.text;
    if (!text) return;
    const integration = this.integrationOf(interaction.integrationId);
    if (!integration) return;
    const report = (outcome: { ok: boolean; wamid?: string; pendingApproval?: string; error?: string }) =>
      this.deps.onEvent({ event: 'auto_reply', interactionId: interaction.id, to: interaction.from, ...outcome });
    if (interaction.fromKind !== 'phone') {
      report({ ok: false, error: 'sender has no phone number' });
      return;
    }
    const work = (async () => {
      try {
        const workspace = await this.deps.store.workspaces.findById(integration.workspaceId);
        if (!workspace) return;
        const submitted = await submitOutbound(this.deps, {
          workspace,
          integration,
          to: interaction.from,
          kind: 'text',
          body: textMessageBody(interaction.from, text, { replyTo: interaction.wamid }),
          source: 'auto_reply',
          inReplyTo: interaction.id,
          idempotencyKey: `auto-reply:${interaction.id}`,
        });
        if (submitted.kind === 'pending_approval') return report({ ok: true, pendingApproval: submitted.message.id });
        if (submitted.kind === 'already_sent') return report({ ok: true, wamid: submitted.message.wamid ?? '' });
        const sent = await deliverOutbound(this.deps, submitted.message, integration, {
          perIntegration: DEFAULT_SEND_RATE,
          perWorkspace: DEFAULT_WORKSPACE_SEND_RATE,
        });
        report({ ok: true, wamid: sent.message.wamid ?? '' });
      } catch (error) {
        report({ ok: false, error: (error as Error).message });
      }
    })();
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }

  /** Waits for the replies under way (at shutdown). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }
}
