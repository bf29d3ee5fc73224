/**
 * Everything the sandbox remembers: one number, one WABA, templates, subscription, sends, read receipts, media,
 * the inbound messages it posted, and queued faults.
 */
import { MEDIA_URL_TTL_MS, MediaStore } from './media.js';
import { isSandboxInboundWamid } from './payloads.js';
import { SANDBOX_APP, SANDBOX_WABA_ID, seedPhoneNumber } from './seed.js';
import type {
  ReadReceipt,
  SandboxApp,
  SandboxEvent,
  SandboxFault,
  SandboxPhoneNumber,
  SandboxStatus,
  SandboxTemplate,
  SentMessage,
} from './types.js';

export interface SandboxStateOptions {
  accessToken: string;
  appSecret: string;
  subscribed: boolean;
  templates: SandboxTemplate[];
  /** The sandbox's clock (ms since the epoch) for media URL expiry and recorded times; default Date.now. */
  now?: () => number;
  /** How long media URLs stay valid; default 5 minutes, as Meta's. */
  mediaUrlTtlMs?: number;
  appCallbackUrl?: string | undefined;
  tokenScopes?: string[];
}

/** What a System User token made as the README says has (and lumen needs). */
export const DEFAULT_TOKEN_SCOPES = ['whatsapp_business_management', 'whatsapp_business_messaging'];

interface QueuedFault {
  /** Recipient key: phone digits, or `user:<user id>`. */
  key: string;
  code: number;
  /** Sends still to fail; Infinity for `times: 0`. */
  remaining: number;
  status: number | undefined;
}

/** Meta's `wa_id` is the digits of `to`. */
export function waIdOf(to: string): string {
  return to.replace(/\D/g, '');
}

/** A business-scoped user id: country code, '.', optionally 'ENT.', then up to 128 letters and digits. */
export function isUserId(value: string): boolean {
  return /^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$/.test(value);
}

/** How faults and filters name a recipient: `user:<id>` for a user id, the digits of a phone number otherwise. */
function recipientKey(to: string): string {
  return isUserId(to) ? `user:${to}` : waIdOf(to);
}

export class SandboxState {
  readonly phoneNumber: SandboxPhoneNumber = seedPhoneNumber();
  readonly wabaId = SANDBOX_WABA_ID;
  readonly app: SandboxApp = { ...SANDBOX_APP };
  readonly accessToken: string;
  readonly appSecret: string;
  subscribed: boolean;
  /** The app's Callback URL (the App Dashboard's; here `--webhook-url` or `POST /_sandbox/webhook`). */
  appCallbackUrl: string | undefined;
  /** `override_callback_uri` of the WABA (`POST /{waba-id}/subscribed_apps`). */
  wabaCallbackOverride: string | undefined;
  /** `webhook_configuration.override_callback_uri` of the number (`POST /{phone-number-id}`). */
  phoneCallbackOverride: string | undefined;
  /** Scopes `debug_token` reports for the access token. */
  tokenScopes: string[];
  /** Called after the webhook configuration or the subscription changed (to persist it). */
  onConfigChange: (() => void) | undefined;

  private readonly initiallySubscribed: boolean;
  private readonly templates: SandboxTemplate[] = [];
  /** Templates as they were before a played webhook changed them (`POST /_sandbox/events`): put back by reset. */
  private readonly changedTemplates = new Map<string, SandboxTemplate>();
  private sends: SentMessage[] = [];
  private faults: QueuedFault[] = [];
  private reads: ReadReceipt[] = [];
  private inboundWamids = new Set<string>();
  private readonly listeners = new Set<(event: SandboxEvent) => void>();

  readonly now: () => number;
  /** Uploaded and inbound media, their download URLs and media faults. */
  readonly media: MediaStore;

  constructor(options: SandboxStateOptions) {
    this.now = options.now ?? Date.now;
    this.media = new MediaStore(this.now, options.mediaUrlTtlMs ?? MEDIA_URL_TTL_MS, new Set([this.phoneNumber.id, this.wabaId]));
    this.accessToken = options.accessToken;
    this.appSecret = options.appSecret;
    this.initiallySubscribed = options.subscribed;
    this.subscribed = options.subscribed;
    this.appCallbackUrl = options.appCallbackUrl;
    this.wabaCallbackOverride = undefined;
    this.phoneCallbackOverride = undefined;
    this.tokenScopes = [...(options.tokenScopes ?? DEFAULT_TOKEN_SCOPES)];
    this.onConfigChange = undefined;
    this.addTemplates(options.templates);
  }

  listTemplates(): readonly SandboxTemplate[] {
    return this.templates;
  }

  findTemplate(name: string, language: string): SandboxTemplate | undefined {
    return this.templates.find((t) => t.name === name && t.language === language);
  }

  /** Changes a template as Meta's webhook about it says (its status or category); undone by `reset()`. */
  changeTemplate(name: string, language: string, change: Partial<Pick<SandboxTemplate, 'status' | 'category'>>): void {
    const template = this.findTemplate(name, language);
    if (!template) return;
    const key = `${name}\u0000${language}`;
    if (!this.changedTemplates.has(key)) this.changedTemplates.set(key, structuredClone(template));
    Object.assign(template, change);
  }

  /** Adds templates; one with the same name and language as an existing one replaces it. */
  addTemplates(templates: readonly SandboxTemplate[]): void {
    for (const template of templates) {
      if (!/^\d+$/.test(template.id)) throw new TypeError(`Template id must be a numeric string, got '${template.id}'.`);
      const copy = structuredClone(template);
      const index = this.templates.findIndex(
        (t) => t.id === copy.id || (t.name === copy.name && t.language === copy.language),
      );
      if (index === -1) this.templates.push(copy);
      else this.templates[index] = copy;
    }
  }

  addFault(fault: SandboxFault): void {
    const key = typeof fault.to === 'string' ? recipientKey(fault.to) : '';
    if (key === '') throw new TypeError('fault.to must be a phone number with digits or a business-scoped user id.');
    if (!Number.isInteger(fault.code) || fault.code <= 0) throw new TypeError('fault.code must be a positive integer.');
    const times = fault.times ?? 1;
    if (!Number.isInteger(times) || times < 0) throw new TypeError('fault.times must be an integer ≥ 0 (0 = always).');
    if (fault.status !== undefined && (!Number.isInteger(fault.status) || fault.status < 400 || fault.status > 599)) {
      throw new TypeError('fault.status must be an HTTP error status (400-599).');
    }
    this.faults.push({ key, code: fault.code, remaining: times === 0 ? Infinity : times, status: fault.status });
  }

  /** Consumes the oldest fault queued for this recipient (phone digits or user id), if any. */
  takeFault(recipient: string): { code: number; status: number | undefined } | undefined {
    const key = recipientKey(recipient);
    const fault = this.faults.find((f) => f.key === key);
    if (!fault) return undefined;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.faults.splice(this.faults.indexOf(fault), 1);
    return { code: fault.code, status: fault.status };
  }

  recordSend(message: SentMessage): void {
    this.sends.push(message);
    if (message.outcome.result === 'accepted') this.emit({ type: 'message.accepted', message });
  }

  /**
   * Recorded sends, oldest first; `to` matches on digits so '+1 555…' and '1555…' are the same recipient, or a
   * business-scoped user id the send went to by `recipient`.
   */
  sent(to?: string): SentMessage[] {
    if (to !== undefined && isUserId(to)) return this.sends.filter((s) => s.userId === to).map((s) => structuredClone(s));
    const waId = to === undefined ? undefined : waIdOf(to);
    return this.sends.filter((s) => waId === undefined || s.waId === waId).map((s) => structuredClone(s));
  }

  recordRead(receipt: ReadReceipt): void {
    this.reads.push(receipt);
  }

  /** Recorded read receipts (and typing indicators), oldest first. */
  readReceipts(): ReadReceipt[] {
    return this.reads.map((r) => structuredClone(r));
  }

  /** Remembers the wamid of an inbound message the sandbox posted, so read receipts for it are accepted. */
  registerInbound(wamid: string): void {
    this.inboundWamids.add(wamid);
  }

  /** A message a user sent to this number: one the sandbox posted, or one made by the sandbox's payloads (trigger). */
  knowsInbound(wamid: string): boolean {
    return this.inboundWamids.has(wamid) || isSandboxInboundWamid(wamid);
  }

  /** Subscribes the app; an override (verified by the caller) replaces the WABA's, `''` removes it. */
  subscribe(callbackOverride?: string): void {
    this.subscribed = true;
    if (callbackOverride !== undefined) this.wabaCallbackOverride = callbackOverride === '' ? undefined : callbackOverride;
    this.onConfigChange?.();
  }

  unsubscribe(): void {
    this.subscribed = false;
    this.wabaCallbackOverride = undefined;
    this.onConfigChange?.();
  }

  /** The number's override (verified by the caller); `''` removes it. */
  setPhoneCallbackOverride(url: string): void {
    this.phoneCallbackOverride = url === '' ? undefined : url;
    this.onConfigChange?.();
  }

  setAppCallbackUrl(url: string | undefined): void {
    this.appCallbackUrl = url;
    this.onConfigChange?.();
  }

  /** Where Meta delivers: the number's override, else the WABA's (while subscribed), else the app's. */
  webhookTarget(): string | undefined {
    return this.phoneCallbackOverride ?? (this.subscribed ? this.wabaCallbackOverride : undefined) ?? this.appCallbackUrl;
  }

  /** Clears sends, read receipts, media, inbound wamids and faults, and restores the initial subscription; templates stay. */
  reset(): void {
    this.sends = [];
    this.faults = [];
    this.reads = [];
    this.inboundWamids.clear();
    this.media.reset();
    this.subscribed = this.initiallySubscribed;
    this.wabaCallbackOverride = undefined;
    this.phoneCallbackOverride = undefined;
    this.addTemplates([...this.changedTemplates.values()]);
    this.changedTemplates.clear();
    this.onConfigChange?.();
  }

  status(): SandboxStatus {
    return {
      number: {
        id: this.phoneNumber.id,
        displayPhoneNumber: this.phoneNumber.display_phone_number,
        verifiedName: this.phoneNumber.verified_name,
      },
      waba: { id: this.wabaId },
      app: { id: this.app.id, name: this.app.name },
      templates: this.templates.length,
      subscribed: this.subscribed,
      sent: this.sends.length,
      pendingFaults: this.faults.length,
    };
  }

  /** In-process hook (the webhook sender will listen here); returns an unsubscribe function. */
  onEvent(listener: (event: SandboxEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: SandboxEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}
