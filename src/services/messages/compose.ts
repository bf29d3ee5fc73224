import { UsageError, UserError } from '../../errors.js';
import { textMessageBody } from '../../graph/messages.js';
import type { Integration, Store, TemplateRecord } from '../../store/types.js';
import { FIELD_SPELLING, FLAG_SPELLING, freeFormBody, isUserId, WAMID, type FreeFormInput, type Recipient, type Spelling } from './message-types.js';
import { normalizeRecipient } from './recipient.js';
import { buildTemplateComponents, parseBodyValues, templateMessageBody, type TemplateValues } from './template-body.js';
import { utcText } from '../../text.js';

export const MAX_TEXT_LENGTH = 4096;
/** The customer-service window: free-form messages only within 24 hours of the contact's last message. */
export const WINDOW_MS = 24 * 60 * 60 * 1000;

/** When the window opened by a message at `lastInboundAt` closes. */
export function windowClosesAt(lastInboundAt: string): Date {
  return new Date(new Date(lastInboundAt).getTime() + WINDOW_MS);
}

/** A message written as the short form's JSON (the local API, your code's replies): errors name its fields, not send's flags. */
interface Spelled {
  spelledAs?: 'fields' | undefined;
}

export interface TextInput extends Spelled {
  kind: 'text';
  text: string;
  previewUrl?: boolean;
  replyTo?: string | undefined;
}

export interface TemplateInput extends Spelled {
  kind: 'template';
  name: string;
  language?: string | undefined;
  /** Body values as given: in order for positional templates, `name=value` for named ones. */
  params: string[];
  header?: string | undefined;
  /** The file name a DOCUMENT header shows. */
  headerFilename?: string | undefined;
  buttons?: Record<number, string> | undefined;
  replyTo?: string | undefined;
}

/** Any other message type (media, interactive, location, contacts, reaction, a raw Cloud API object). */
export interface FreeFormMessage extends Spelled {
  kind: 'free_form';
  input: FreeFormInput;
  replyTo?: string | undefined;
}

export type MessageInput = TextInput | TemplateInput | FreeFormMessage;

export interface ComposedMessage {
  /** The recipient's phone digits or user id. */
  to: string;
  recipientKind: Recipient['kind'];
  /** The Cloud API message type. */
  kind: string;
  body: Record<string, unknown>;
  templateName: string | null;
  templateLanguage: string | null;
}

/** A body built with `to`, addressed to a user id (`recipient`) instead when that is who it goes to; keys keep their order. */
export function readdressed(body: Record<string, unknown>, recipient: Recipient): Record<string, unknown> {
  if (recipient.kind === 'phone') return body;
  return Object.fromEntries(Object.entries(body).map(([key, value]) => (key === 'to' ? ['recipient', value] : [key, value])));
}

/** `--to`: a phone number in international format, or a username user's business-scoped user id. */
export function parseRecipient(value: string): Recipient {
  const trimmed = value.trim();
  if (isUserId(trimmed)) return { kind: 'user_id', id: trimmed };
  return { kind: 'phone', id: normalizeRecipient(value) };
}

/** How a recipient is shown: +digits for a phone number, the id itself for a user id. */
export function showRecipient(recipient: Recipient): string {
  return recipient.kind === 'user_id' ? recipient.id : `+${recipient.id}`;
}

/** The customer-service window: free-form messages only within 24 hours of the contact's last message. */
export async function windowState(store: Store, integrationId: string, to: string, now: Date) {
  const lastInboundAt = (await store.inbox.lastInboundAt(integrationId, to)) ?? null;
  const open = lastInboundAt !== null && now.getTime() - new Date(lastInboundAt).getTime() < WINDOW_MS;
  return { open, lastInboundAt };
}

/** A synced template by name, in the given language (or its only one), whatever its status. */
export async function findTemplate(
  store: Store,
  integration: Integration,
  name: string,
  language?: string,
  spelling: Spelling = FLAG_SPELLING,
): Promise<TemplateRecord> {
  const all = await store.templates.findByName(integration.id, name);
  if (all.length === 0) {
    throw new UserError(`No template named "${name}" in the local sync.`, {
      code: 'template_not_found',
      hint: 'Run `lumen templates sync` (it may be new), or `lumen templates list` to see the names.',
    });
  }
  let template: TemplateRecord | undefined;
  if (language) {
    template = all.find((t) => t.language === language);
    if (!template) {
      throw new UserError(`Template "${name}" has no "${language}" translation.`, {
        code: 'template_language_not_found',
        hint: `Languages: ${all.map((t) => t.language).join(', ')}. Run \`lumen templates sync\` if one is new.`,
      });
    }
  } else if (all.length > 1) {
    throw new UsageError(`Template "${name}" exists in several languages; choose one with ${spelling.lang}.`, `Languages: ${all.map((t) => t.language).join(', ')}.`);
  } else {
    template = all[0]!;
  }
  return template;
}

/** What to do about a template that is not APPROVED, by its status. */
function notApprovedHint(status: string): string {
  const sync = 'then `lumen templates sync`';
  switch (status) {
    case 'PENDING':
    case 'IN_APPEAL':
      return `Meta is still reviewing it: wait for approval in WhatsApp Manager, ${sync}.`;
    case 'REJECTED':
      return `Meta rejected it: edit it in WhatsApp Manager and submit it again (or send another template), ${sync}.`;
    case 'PAUSED':
    case 'DISABLED':
      return `Meta ${status === 'PAUSED' ? 'paused' : 'disabled'} it for low quality: send another template (\`lumen templates list --status APPROVED\`), or improve it in WhatsApp Manager.`;
    default:
      return 'Send an approved template instead (`lumen templates list --status APPROVED`).';
  }
}

/** The approved template to send: by name, in the given language (or its only one). */
export async function findSendableTemplate(
  store: Store,
  integration: Integration,
  name: string,
  language?: string,
  spelling: Spelling = FLAG_SPELLING,
): Promise<TemplateRecord> {
  const template = await findTemplate(store, integration, name, language, spelling);
  if (template.status !== 'APPROVED') {
    const reason = template.statusReason ? ` (Meta's reason: ${template.statusReason})` : '';
    throw new UserError(`Template "${name}" (${template.language}) is ${template.status}, not APPROVED${reason}: Meta would refuse it.`, {
      code: 'template_not_approved',
      hint: notApprovedHint(template.status),
    });
  }
  return template;
}

/** The user_preferences category of marketing messages. */
export const MARKETING_PREFERENCE = 'marketing_messages';

/** A MARKETING template to someone who asked Meta to stop marketing messages is refused before Meta. */
export async function assertMarketingAllowed(store: Store, integration: Integration, template: TemplateRecord, to: string): Promise<void> {
  if ((template.category ?? '').toUpperCase() !== 'MARKETING') return;
  const preference = await store.facts.preference(integration.id, to, MARKETING_PREFERENCE);
  if (preference?.value.toLowerCase() !== 'stop') return;
  const who = isUserId(to) ? to : `+${to}`;
  throw new UserError(
    `${who} asked to stop marketing messages (at ${utcText(preference.occurredAt)}${preference.detail ? `: "${preference.detail}"` : ''}): ` +
      `template "${template.name}" is MARKETING.`,
    {
      code: 'marketing_opted_out',
      hint: 'Send a utility or authentication template, or wait until they resume marketing messages.',
    },
  );
}

/**
 * Checks everything Meta would refuse and builds the exact request body: the number, the text length, the template
 * and its parameters, and the 24-hour window for free-form text (unless `force`).
 */
export async function composeMessage(
  store: Store,
  integration: Integration,
  input: { to: string; message: MessageInput; force?: boolean; now: Date },
): Promise<ComposedMessage> {
  const recipient = parseRecipient(input.to);
  const to = recipient.id;
  const { message } = input;
  const spelling = message.spelledAs === 'fields' ? FIELD_SPELLING : FLAG_SPELLING;
  // Checked here, before anything is uploaded or held: Meta would refuse any other id only when it is sent.
  if (message.replyTo !== undefined && !WAMID.test(message.replyTo)) {
    throw new UsageError(`The message to reply to must be named by its wamid (wamid.…); got "${message.replyTo.slice(0, 80)}".`);
  }
  if (message.kind !== 'template') {
    let built: { type: string; body: Record<string, unknown> };
    if (message.kind === 'text') {
      if (message.text.trim() === '') throw new UsageError('The text is empty.');
      if (message.text.length > MAX_TEXT_LENGTH) {
        throw new UsageError(`The text is ${message.text.length} characters; WhatsApp allows at most ${MAX_TEXT_LENGTH}.`);
      }
      const body = textMessageBody(to, message.text, { replyTo: message.replyTo ?? null, previewUrl: message.previewUrl ?? false });
      built = { type: 'text', body: readdressed(body, recipient) };
    } else {
      built = freeFormBody(recipient, message.input, message.replyTo, spelling);
    }
    if (!input.force) {
      const window = await windowState(store, integration.id, to, input.now);
      if (!window.open) {
        const who = showRecipient(recipient);
        const what = message.kind === 'text' ? 'free-form text is' : 'free-form messages are';
        throw new UserError(
          window.lastInboundAt
            ? `${who} last wrote at ${utcText(window.lastInboundAt)}, more than 24 hours ago: ${what} not allowed.`
            : `${who} has never written to this number: ${what} not allowed.`,
          {
            code: 'window_closed',
            hint: `Send an approved template (${spelling.template})${spelling.force ? `, or ${spelling.force} to try anyway (Meta answers 131047)` : ''}.`,
          },
        );
      }
    }
    return { to, recipientKind: recipient.kind, kind: built.type, body: built.body, templateName: null, templateLanguage: null };
  }
  const template = await findSendableTemplate(store, integration, message.name, message.language, spelling);
  await assertMarketingAllowed(store, integration, template, to);
  const values: TemplateValues = {
    body: parseBodyValues(message.params, template.parameterFormat, template.requiredParameters.filter((p) => p.component === 'body').map((p) => p.name), spelling),
    header: message.header,
    headerFilename: message.headerFilename,
    buttons: message.buttons,
  };
  const components = buildTemplateComponents(template, values, spelling);
  const context = message.replyTo ? { context: { message_id: message.replyTo } } : {};
  return {
    to,
    recipientKind: recipient.kind,
    kind: 'template',
    body: readdressed({ ...templateMessageBody(to, template, components), ...context }, recipient),
    templateName: template.name,
    templateLanguage: template.language,
  };
}
