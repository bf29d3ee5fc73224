/**
 * The webhook fields besides inbound messages that lumen acts on, as parsed from a delivery (relay/parse.ts) and
 * written by the inbox in the transaction that acknowledges it. Types only.
 */

/** What Meta charges for a sent message: categories are kept as Meta names them, known or not. */
export interface StatusPricing {
  model: string | null;
  category: string | null;
  type: string | null;
  billable: boolean | null;
}

/** A template Meta changed (status, category, quality or components), matched by id or by name and language. */
export interface TemplateChange {
  kind: 'template';
  field: string;
  wabaId: string | null;
  templateId: string | null;
  name: string | null;
  language: string | null;
  status: string | null;
  /** Why (REJECTED's reason, a pause's title…), as Meta words it. */
  reason: string | null;
  category: string | null;
  previousCategory: string | null;
  quality: string | null;
  /** For message_template_components_update: the new body, header and footer text. */
  components: Record<string, unknown> | null;
  /** When Meta says it happened (the entry's `time`), null when it does not: an older one than applied is stale. */
  eventAt: string | null;
  raw: Record<string, unknown>;
}

/** account_update, phone_number_quality_update, business_capability_update: facts about the number. */
export interface AccountChange {
  kind: 'account';
  field: string;
  wabaId: string | null;
  /** The number it is about (display digits), when the change names one. */
  phoneNumber: string | null;
  event: string | null;
  qualityRating: string | null;
  messagingLimit: string | null;
  restriction: string | null;
  /** True when the number is also on the WhatsApp Business app (coexistence), false when Meta says it is not. */
  coexistence: boolean | null;
  capability: Record<string, unknown> | null;
  /** When Meta says it happened (the entry's `time`), null when it does not: an older one than applied is stale. */
  eventAt: string | null;
  raw: Record<string, unknown>;
}

/** user_preferences: a user stopped (or resumed) a category of messages, e.g. marketing. */
export interface PreferenceChange {
  kind: 'preference';
  field: string;
  phoneNumberId: string;
  wabaId: string | null;
  contact: string;
  category: string;
  value: string;
  detail: string | null;
  timestamp: string;
  raw: Record<string, unknown>;
}

/** smb_message_echoes: a message the business sent from the WhatsApp Business app. */
export interface EchoChange {
  kind: 'echo';
  field: string;
  phoneNumberId: string;
  wabaId: string | null;
  wamid: string;
  to: string;
  type: string;
  text: string;
  timestamp: string;
  raw: Record<string, unknown>;
}

/** An edit (new text) or revoke (deleted) of an earlier message, inbound or sent. */
export interface EditChange {
  kind: 'edit' | 'revoke';
  field: string;
  phoneNumberId: string;
  wabaId: string | null;
  /** The edit's or revoke's own wamid. */
  wamid: string | null;
  originalWamid: string;
  /** The new text (edits). */
  text: string | null;
  timestamp: string;
  raw: Record<string, unknown>;
}

export type FieldChange = TemplateChange | AccountChange | PreferenceChange | EchoChange | EditChange;

