/**
 * Webhook deliveries for every field besides inbound messages and statuses, shaped like Meta's: the four template
 * fields, the account fields, user_preferences, smb_message_echoes, and edits and revokes. Used by the sandbox
 * (`POST /_sandbox/events`) and by `lumen trigger`, so both send the same shapes.
 */
import { newWamid, type NumberInfo } from './payloads.js';

export const FIELD_EVENTS = [
  'template',
  'template-category',
  'template-quality',
  'template-components',
  'account',
  'quality',
  'capability',
  'preferences',
  'echo',
  'edit',
  'revoke',
] as const;
export type FieldEvent = (typeof FIELD_EVENTS)[number];

export interface FieldEventSpec {
  what: FieldEvent;
  /** Templates: which one (by name and language, and its id when known). */
  template?: string | undefined;
  language?: string | undefined;
  templateId?: string | undefined;
  /** template: the new status (APPROVED, REJECTED, PAUSED, DISABLED…); account/quality: Meta's event. */
  event?: string | undefined;
  reason?: string | undefined;
  category?: string | undefined;
  previousCategory?: string | undefined;
  quality?: string | undefined;
  /** quality: the messaging limit (TIER_1K…). */
  limit?: string | undefined;
  restriction?: string | undefined;
  /** account: the number is also on the WhatsApp Business app. */
  coexistence?: boolean | undefined;
  /** preferences: the user (digits); echo: the recipient; edit/revoke: the sender. */
  user?: string | undefined;
  /** preferences: stop or resume. */
  value?: string | undefined;
  /** edit/revoke: the message edited or deleted; echo: the echo's own wamid. */
  wamid?: string | undefined;
  text?: string | undefined;
  timestamp?: number | undefined;
}

const seconds = (value?: number) => String(value ?? Math.floor(Date.now() / 1000));

function delivery(number: NumberInfo, field: string, value: Record<string, unknown>) {
  return { object: 'whatsapp_business_account', entry: [{ id: number.wabaId, time: Number(seconds()), changes: [{ value, field }] }] };
}

function perNumber(number: NumberInfo, extra: Record<string, unknown>) {
  return {
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: number.displayPhoneNumber, phone_number_id: number.phoneNumberId },
    ...extra,
  };
}

/** The delivery for a spec; throws an Error naming what is missing (callers turn it into their own error). */
export function fieldEventPayload(number: NumberInfo, spec: FieldEventSpec): unknown {
  const template = () => {
    if (!spec.template) throw new Error('needs the template (its name)');
    return {
      ...(spec.templateId ? { message_template_id: Number(spec.templateId) } : {}),
      message_template_name: spec.template,
      message_template_language: spec.language ?? 'en_US',
    };
  };
  const user = spec.user ?? '15551234567';
  switch (spec.what) {
    case 'template': {
      const event = (spec.event ?? 'PAUSED').toUpperCase();
      const paused = event === 'PAUSED' || event === 'DISABLED';
      return delivery(number, 'message_template_status_update', {
        event,
        ...template(),
        reason: spec.reason ?? (event === 'REJECTED' ? 'INVALID_FORMAT' : 'NONE'),
        ...(paused
          ? { other_info: { title: spec.reason ?? `FIRST_${event}`, description: `Your template has been ${event.toLowerCase()} because of low quality.` } }
          : {}),
      });
    }
    case 'template-category':
      return delivery(number, 'template_category_update', {
        ...template(),
        previous_category: (spec.previousCategory ?? 'UTILITY').toUpperCase(),
        new_category: (spec.category ?? 'MARKETING').toUpperCase(),
      });
    case 'template-quality':
      return delivery(number, 'message_template_quality_update', {
        previous_quality_score: 'GREEN',
        new_quality_score: (spec.quality ?? 'YELLOW').toUpperCase(),
        ...template(),
      });
    case 'template-components':
      return delivery(number, 'message_template_components_update', {
        ...template(),
        message_template_element: spec.text ?? 'Hello {{1}}, your order has shipped.',
      });
    case 'account':
      return delivery(number, 'account_update', {
        phone_number: number.displayPhoneNumber,
        event: spec.event ?? (spec.restriction ? 'ACCOUNT_RESTRICTION' : spec.coexistence ? 'PARTNER_APP_INSTALLED' : 'VERIFIED_ACCOUNT'),
        ...(spec.restriction ? { restriction_info: [{ restriction_type: spec.restriction, expiration: Number(seconds()) + 86_400 }] } : {}),
        ...(spec.coexistence !== undefined ? { is_on_biz_app: spec.coexistence } : {}),
      });
    case 'quality':
      return delivery(number, 'phone_number_quality_update', {
        display_phone_number: number.displayPhoneNumber,
        event: spec.event ?? 'DOWNGRADE',
        current_limit: spec.limit ?? 'TIER_1K',
        ...(spec.quality ? { quality_rating: spec.quality.toUpperCase() } : {}),
      });
    case 'capability':
      return delivery(number, 'business_capability_update', {
        max_daily_conversation_per_phone: Number(spec.limit ?? 1000),
        max_phone_numbers_per_business: 2,
      });
    case 'preferences':
      return delivery(
        number,
        'user_preferences',
        perNumber(number, {
          contacts: [{ profile: { name: 'Sandbox User' }, wa_id: user }],
          user_preferences: [
            {
              wa_id: user,
              detail: spec.value === 'resume' ? 'User requested to resume marketing messages' : 'User requested to stop marketing messages',
              category: 'marketing_messages',
              value: spec.value ?? 'stop',
              timestamp: Number(seconds(spec.timestamp)),
            },
          ],
        }),
      );
    case 'echo':
      return delivery(
        number,
        'smb_message_echoes',
        perNumber(number, {
          message_echoes: [
            {
              from: number.displayPhoneNumber,
              to: user,
              id: spec.wamid ?? newWamid(user),
              timestamp: seconds(spec.timestamp),
              type: 'text',
              text: { body: spec.text ?? 'Sent from the WhatsApp Business app' },
            },
          ],
        }),
      );
    case 'edit':
    case 'revoke': {
      if (!spec.wamid) throw new Error(`needs the wamid of the message to ${spec.what === 'edit' ? 'edit' : 'delete'}`);
      const content =
        spec.what === 'edit'
          ? { edit: { original_message_id: spec.wamid, message: { type: 'text', text: { body: spec.text ?? 'Edited text' } } } }
          : { revoke: { original_message_id: spec.wamid } };
      return delivery(
        number,
        'messages',
        perNumber(number, {
          contacts: [{ profile: { name: 'Sandbox User' }, wa_id: user }],
          messages: [{ from: user, id: newWamid(user), timestamp: seconds(spec.timestamp), type: spec.what, ...content }],
        }),
      );
    }
  }
}
