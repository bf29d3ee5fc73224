import type { GraphClient } from './client.js';

/**
 * Where Meta sends a number's webhooks, and how lumen tells it. Meta picks the most specific Callback URL: the
 * phone number's override, else the WABA's override, else the app's (the one set in the App Dashboard).
 */

export type CallbackScope = 'phone' | 'waba';

export interface WebhookConfiguration {
  /** The number's override (`POST /{phone-number-id}` with `webhook_configuration`). */
  phoneNumber: string | null;
  /** The WABA's override (`POST /{waba-id}/subscribed_apps` with `override_callback_uri`). */
  whatsappBusinessAccount: string | null;
  /** The app's Callback URL (App Dashboard → WhatsApp → Configuration). */
  application: string | null;
}

/** The URL Meta delivers to: the most specific one set. */
export function effectiveCallbackUrl(config: WebhookConfiguration): string | null {
  return config.phoneNumber ?? config.whatsappBusinessAccount ?? config.application;
}

/**
 * Registers a Callback URL and its verify token. Meta runs the GET handshake against the URL during this call, so
 * whatever serves the URL must already answer it with this token; a refusal is a GraphError (code 2200).
 */
export async function registerCallbackUrl(
  graph: GraphClient,
  target: { scope: CallbackScope; phoneNumberId: string; wabaId: string },
  callbackUrl: string,
  verifyToken: string,
): Promise<void> {
  if (target.scope === 'phone') {
    await graph.post(encodeURIComponent(target.phoneNumberId), {
      webhook_configuration: { override_callback_uri: callbackUrl, verify_token: verifyToken },
    });
  } else {
    await graph.post(`${encodeURIComponent(target.wabaId)}/subscribed_apps`, {
      override_callback_uri: callbackUrl,
      verify_token: verifyToken,
    });
  }
}

export async function getWebhookConfiguration(graph: GraphClient, phoneNumberId: string): Promise<WebhookConfiguration> {
  const node = await graph.get<{ webhook_configuration?: Record<string, unknown> }>(encodeURIComponent(phoneNumberId), {
    fields: 'webhook_configuration',
  });
  const config = node.webhook_configuration ?? {};
  const url = (value: unknown) => (typeof value === 'string' && value !== '' ? value : null);
  return {
    phoneNumber: url(config.phone_number),
    whatsappBusinessAccount: url(config.whatsapp_business_account),
    application: url(config.application),
  };
}

export interface TokenInfo {
  appId: string | null;
  appName: string | null;
  type: string | null;
  valid: boolean;
  /** Unix seconds; 0 = never. */
  expiresAt: number | null;
  scopes: string[];
}

/** `GET /debug_token?input_token=…`: which app the token belongs to, whether it is valid and its scopes. */
export async function debugToken(graph: GraphClient, token: string): Promise<TokenInfo> {
  const answer = await graph.get<{ data?: Record<string, unknown> }>('debug_token', { input_token: token });
  const data = answer.data ?? {};
  return {
    appId: typeof data.app_id === 'string' ? data.app_id : typeof data.app_id === 'number' ? String(data.app_id) : null,
    appName: typeof data.application === 'string' ? data.application : null,
    type: typeof data.type === 'string' ? data.type : null,
    valid: data.is_valid === true,
    expiresAt: typeof data.expires_at === 'number' ? data.expires_at : null,
    scopes: Array.isArray(data.scopes) ? data.scopes.filter((s): s is string => typeof s === 'string') : [],
  };
}
