/**
 * What the console reads and does, each in one small function over the same store and services the CLI uses (no
 * second implementation of a send, an approval or a replay). A field that lands later is one more line here.
 */
import { UserError } from '../../errors.js';
import type { ServiceDeps } from '../../services/deps.js';
import { approveMessage, currentUser, rejectMessage } from '../../services/messages/approvals.js';
import { windowClosesAt, type TemplateInput } from '../../services/messages/compose.js';
import { DEFAULT_SEND_RATE, DEFAULT_WORKSPACE_SEND_RATE } from '../../services/messages/outbox.js';
import { sendOne, type SendOneResult } from '../../services/messages/send.js';
import type {
  Contact,
  ContactCursor,
  DispatchEvent,
  DispatchState,
  Integration,
  Interaction,
  OutboundMessage,
  TemplateRecord,
  ThreadItem,
  Workspace,
} from '../../store/types.js';
import { DISPATCH_LEASE_MS, interactionPayload, keptJson, mediaView, type DispatchTarget } from '../dispatch.js';
import type { Replier } from '../replies.js';
import { forwardRef, parseForwardRef, type ForwardRecord } from '../../store/repos/forward-queue.js';

export const PAGE_SIZE = 50;
const RATES = { perIntegration: DEFAULT_SEND_RATE, perWorkspace: DEFAULT_WORKSPACE_SEND_RATE };

/** The workspace asked for, else the first one with a connected number, else `default`. */
export async function chooseWorkspace(services: ServiceDeps, name: string | undefined): Promise<{ workspace: Workspace; names: string[] }> {
  const all = await services.store.workspaces.list();
  const names = all.map((w) => w.name);
  const named = name ? all.find((w) => w.name === name) : undefined;
  if (named) return { workspace: named, names };
  for (const workspace of all) {
    if ((await services.store.integrations.list(workspace.id)).length > 0) return { workspace, names };
  }
  return { workspace: all[0] ?? (await services.store.workspaces.ensure('default', services.now().toISOString())), names };
}

export interface WindowInfo {
  open: boolean;
  closesAt: string | null;
  /** Milliseconds left; 0 when closed. */
  remainingMs: number;
}

export function windowOf(contact: Contact | undefined, now: Date): WindowInfo {
  if (!contact) return { open: false, closesAt: null, remainingMs: 0 };
  const closes = windowClosesAt(contact.lastInboundAt);
  const remainingMs = Math.max(0, closes.getTime() - now.getTime());
  return { open: remainingMs > 0, closesAt: closes.toISOString(), remainingMs };
}

export async function contactsPage(services: ServiceDeps, workspace: Workspace, before: ContactCursor | undefined) {
  return services.store.console.contacts(workspace.id, { before, limit: PAGE_SIZE });
}

export interface Conversation {
  integration: Integration | undefined;
  contact: Contact | undefined;
  items: ThreadItem[];
  window: WindowInfo;
  /** Templates that may be sent (APPROVED), for the form outside the window. */
  templates: TemplateRecord[];
}

export async function conversation(services: ServiceDeps, integrationId: string, contactId: string, before: string | undefined): Promise<Conversation> {
  const { store } = services;
  const [integration, contact, items] = await Promise.all([
    store.integrations.findById(integrationId),
    store.console.contact(integrationId, contactId),
    store.console.thread(integrationId, contactId, { before, limit: PAGE_SIZE }),
  ]);
  const templates = integration ? await store.templates.list(integration.id, { status: 'APPROVED' }) : [];
  return { integration, contact, items, window: windowOf(contact, services.now()), templates };
}

/** The console's reply: text, or a template filled from the form, through the outbox as `lumen send` does. */
export async function sendFromConsole(
  services: ServiceDeps,
  request: { integrationId: string; contactId: string; idempotencyKey: string; text?: string; template?: { name: string; language: string; values: string[] } },
): Promise<SendOneResult> {
  const integration = await services.store.integrations.findById(request.integrationId);
  if (!integration) throw new UserError('That number is no longer connected.', { code: 'integration_not_found', kind: 'not_found' });
  const workspace = await services.store.workspaces.findById(integration.workspaceId);
  if (!workspace) throw new UserError("The number's workspace is gone.", { code: 'integration_not_found', kind: 'not_found' });
  const contact = await services.store.console.contact(integration.id, request.contactId);
  const to = contact?.kind === 'user_id' || !/^\d+$/.test(request.contactId) ? request.contactId : `+${request.contactId}`;
  let message: TemplateInput | { kind: 'text'; text: string };
  if (request.template) {
    message = await templateInput(services, integration, request.template);
  } else {
    if (!request.text || request.text.trim() === '') throw new UserError('Type a message first.', { code: 'empty_message', kind: 'usage' });
    message = { kind: 'text', text: request.text };
  }
  return sendOne(services, {
    workspace,
    integration,
    to,
    message,
    idempotencyKey: request.idempotencyKey,
    rates: RATES,
    source: 'console',
  });
}

/**
 * The form's values (one per required parameter, in the template's order) as `lumen send` takes them: body values in
 * order (`name=value` for named templates), the header's, and the buttons' by index. A blank value is left out, so
 * the send's own check names what is missing.
 */
async function templateInput(
  services: ServiceDeps,
  integration: Integration,
  chosen: { name: string; language: string; values: string[] },
): Promise<TemplateInput> {
  const [template] = (await services.store.templates.findByName(integration.id, chosen.name)).filter((t) => t.language === chosen.language);
  if (!template) throw new UserError(`No template ${chosen.name} (${chosen.language}) is synced.`, { code: 'template_not_found', kind: 'not_found' });
  const input: TemplateInput = { kind: 'template', name: template.name, language: template.language, params: [] };
  template.requiredParameters.forEach((parameter, i) => {
    const value = (chosen.values[i] ?? '').trim();
    if (value === '') return;
    if (parameter.component === 'header') input.header = value;
    else if (parameter.component === 'button') input.buttons = { ...input.buttons, [parameter.buttonIndex ?? 0]: value };
    else input.params.push(template.parameterFormat === 'NAMED' ? `${parameter.name}=${value}` : value);
  });
  return input;
}

export async function pendingApprovals(services: ServiceDeps, workspace: Workspace): Promise<OutboundMessage[]> {
  return services.store.outbound.listByState(workspace.id, 'pending_approval', 200);
}

export async function approve(services: ServiceDeps, workspace: Workspace, id: string): Promise<OutboundMessage> {
  return approveMessage(services, workspace, id, currentUser(services.env), RATES);
}

export async function reject(services: ServiceDeps, workspace: Workspace, id: string, reason: string): Promise<OutboundMessage> {
  if (reason.trim() === '') throw new UserError('Say why it is rejected.', { code: 'reason_required', kind: 'usage' });
  return rejectMessage(services, workspace, id, currentUser(services.env), reason.trim());
}

export async function eventsPage(services: ServiceDeps, workspace: Workspace, before: number | undefined, state: DispatchState | undefined) {
  return services.store.console.events(workspace.id, { before, limit: PAGE_SIZE, state });
}

/** An event's document (--events) or Meta's delivery (--forward-raw) as the Your code page lists it. */
export type ForwardRow = ForwardRecord & { ref: string };

/** The latest items handed on besides messages, of both queues, newest first (what `lumen events list` shows too). */
export async function forwardsPage(services: ServiceDeps, workspace: Workspace): Promise<ForwardRow[]> {
  const filter = { workspaceId: workspace.id, failedOnly: false, limit: PAGE_SIZE };
  const rows = await Promise.all(
    (['events', 'raw'] as const).map(async (queue) =>
      (await services.store.forwards[queue].list(filter)).map((record) => ({ ...record, ref: forwardRef(queue, record.id) })),
    ),
  );
  return rows
    .flat()
    .sort((a, b) => (a.receivedAt < b.receivedAt ? 1 : a.receivedAt > b.receivedAt ? -1 : 0))
    .slice(0, PAGE_SIZE);
}

/** Drops (`drop`) or queues again, due now (`retry`), a forwarded item of this workspace: false when it is none. */
export async function actOnForward(services: ServiceDeps, workspace: Workspace, ref: string, action: 'drop' | 'retry'): Promise<boolean> {
  const parsed = parseForwardRef(ref);
  if (!parsed) return false;
  const queue = services.store.forwards[parsed.queue];
  const { id } = parsed;
  const found = await queue.find(id);
  if (!found || found.workspaceId !== workspace.id) return false;
  if (action === 'retry') {
    await queue.requeue(id, services.now().toISOString());
    return true;
  }
  if (!(await queue.drop(id))) {
    throw new UserError(`Event ${ref} was delivered or dropped already; there is nothing to drop.`, { code: 'already_delivered', kind: 'conflict' });
  }
  return true;
}

export async function eventDetail(services: ServiceDeps, workspace: Workspace, id: number) {
  const event = await services.store.dispatch.find(id);
  if (!event || event.workspaceId !== workspace.id) return undefined;
  const interaction = await services.store.inbox.findInteraction(event.interactionId);
  const media = interaction ? await services.store.media.forInteraction(interaction.id) : undefined;
  const payload = interaction ? interactionPayload(interaction, media ? mediaView(media, null) : null) : null;
  return { event, interaction, payload };
}

/** Retry now: due at once, for the running dispatcher. */
export async function retryEvent(services: ServiceDeps, event: DispatchEvent): Promise<DispatchEvent> {
  return services.store.dispatch.requeue(event.interactionId, event.workspaceId, services.now().toISOString());
}

export async function dropEvent(services: ServiceDeps, event: DispatchEvent): Promise<void> {
  if (!(await services.store.dispatch.drop(event.id, services.now().toISOString()))) {
    throw new UserError(`Event ${event.id} was delivered or dropped already; there is nothing to drop.`, { code: 'already_delivered', kind: 'conflict' });
  }
}

/** Delivers the message again now, with the JSON as edited, to the relay's own target; recorded like any delivery. */
export async function replayEdited(
  services: ServiceDeps,
  target: DispatchTarget | undefined,
  event: DispatchEvent,
  interaction: Interaction,
  json: string,
  replier?: Replier,
) {
  if (!target) {
    throw new UserError('This relay hands messages to no code: start it with --forward-to or --exec to replay.', { code: 'no_target', kind: 'usage' });
  }
  try {
    JSON.parse(json);
  } catch (error) {
    throw new UserError(`The edited JSON does not parse: ${(error as Error).message}`, { code: 'invalid_json', kind: 'usage' });
  }
  const started = services.now().getTime();
  const { withEventClaim } = await import('../replay.js');
  const result = await withEventClaim(services, event.id, () => target.deliver(interaction, { body: json }));
  const durationMs = services.now().getTime() - started;
  const at = services.now().toISOString();
  if (result.ok) {
    // What your code answers is sent as the relay sends it (once per message: the relay's idempotency keys), kept
    // with the record until it is.
    const plan = replier?.plan(interaction, result);
    const kept = keptJson(plan);
    const leaseUntil = new Date(services.now().getTime() + DISPATCH_LEASE_MS).toISOString();
    await services.store.dispatch.markDelivered(event.id, { target: target.description, status: result.status, durationMs, at, ...(kept ? { replies: { json: kept, leaseUntil } } : {}) });
    if (plan) await replier!.send(interaction, plan, kept ? { eventId: event.id, json: kept } : undefined);
  }
  return { ...result, durationMs, target: target.description };
}

/**
 * A stored inbound message as the delivery Meta sent (its message object exactly as stored, in Meta's envelope),
 * for `lumen trigger --file` to post again, signed.
 */
export function deliveryFileFor(interaction: Interaction, integration: Integration | undefined): string {
  const contact: Record<string, unknown> = { profile: { name: interaction.contactName ?? '' } };
  if (interaction.fromKind === 'phone') contact.wa_id = interaction.from;
  if (interaction.userId) contact.user_id = interaction.userId;
  const document = {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: integration?.wabaId ?? '',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: (integration?.displayPhoneNumber ?? '').replace(/\D/g, ''), phone_number_id: interaction.phoneNumberId },
              contacts: [contact],
              messages: [interaction.raw],
            },
          },
        ],
      },
    ],
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}

export async function relayNumbers(services: ServiceDeps, workspace: Workspace) {
  return services.store.integrations.list(workspace.id);
}

export async function queueDepth(services: ServiceDeps, workspace: Workspace) {
  return services.store.console.queueDepth(workspace.id);
}

export async function sendsPerMinute(services: ServiceDeps, workspace: Workspace, minutes: number) {
  const since = new Date(Math.floor(services.now().getTime() / 60_000) * 60_000 - (minutes - 1) * 60_000).toISOString();
  return services.store.console.sendsPerMinute(workspace.id, since);
}

export async function templatesOf(services: ServiceDeps, workspace: Workspace) {
  const integrations = await services.store.integrations.list(workspace.id);
  const lists = await Promise.all(integrations.map(async (integration) => ({ integration, templates: await services.store.templates.list(integration.id) })));
  return lists;
}
