import { UserError } from '../../errors.js';
import { GraphError } from '../../graph/errors.js';
import { listSubscribedApps } from '../../graph/subscriptions.js';
import {
  debugToken,
  effectiveCallbackUrl,
  getWebhookConfiguration,
  registerCallbackUrl,
  type CallbackScope,
  type WebhookConfiguration,
} from '../../graph/webhooks.js';
import { readIntegrationSecrets } from '../../secrets/integration.js';
import type { Integration } from '../../store/types.js';
import { hashVerifyToken, webhookUrl } from '../../webhooks.js';
import type { ServiceDeps } from '../deps.js';
import { newVerifyToken } from './tokens.js';

export interface Registration {
  integrationId: string;
  label: string;
  url: string;
  scope: CallbackScope;
  ok: boolean;
  error?: { code: string; message: string; hint: string | null };
  /** Taken, but not where Meta delivers: the number's own override wins over the WABA's. */
  warning?: string;
}

/**
 * Registers `<publicUrl>/webhooks/whatsapp/<id>` as the number's (or its WABA's) Callback URL with a fresh verify
 * token. Meta runs the handshake during the call, so the relay serving that URL must already be listening: it reads
 * the new token's hash from the database on that request. `verifyToken` is one just stored (connect's); without it
 * a new one replaces the stored hash, and the old hash comes back if Meta refuses (the manual setup keeps working).
 * A refusal is reported in the result, never thrown.
 */
export async function registerWebhook(
  deps: ServiceDeps,
  integration: Integration,
  options: { publicUrl: string; scope: CallbackScope; verifyToken?: string },
): Promise<Registration> {
  const url = webhookUrl(options.publicUrl, integration.id)!;
  const result: Registration = { integrationId: integration.id, label: integration.label, url, scope: options.scope, ok: false };
  const verifyToken = options.verifyToken ?? newVerifyToken();
  const previousHash = integration.verifyTokenHash;
  if (!options.verifyToken) {
    await deps.store.integrations.setVerifyTokenHash(integration.id, hashVerifyToken(verifyToken), deps.now().toISOString());
  }
  try {
    const graph = await deps.graphFor(integration);
    await registerCallbackUrl(graph, { scope: options.scope, phoneNumberId: integration.phoneNumberId, wabaId: integration.wabaId }, url, verifyToken);
    await deps.store.integrations.setPublicUrl(integration.id, options.publicUrl.replace(/\/+$/, ''), deps.now().toISOString());
    result.ok = true;
    if (options.scope === 'waba') {
      // A number's own override (set by an earlier relay's default scope, or by hand) wins over the WABA's.
      const shadow = await getWebhookConfiguration(graph, integration.phoneNumberId).then((c) => c.phoneNumber, () => null);
      if (shadow && shadow !== url) {
        result.warning =
          `the number's own Callback URL (${shadow}) wins over the WABA's: Meta delivers there, not here. ` +
          'Start the relay with --callback-scope phone (the default) to point it here, or remove the number\'s override in the App Dashboard.';
      }
    }
  } catch (error) {
    if (!options.verifyToken) {
      await deps.store.integrations.setVerifyTokenHash(integration.id, previousHash, deps.now().toISOString());
    }
    result.error = explainRegistrationError(error, url);
  }
  return result;
}

function explainRegistrationError(error: unknown, url: string): NonNullable<Registration['error']> {
  const healthz = `${new URL(url).origin}/healthz`;
  if (error instanceof GraphError) {
    if (error.isAuthError) {
      return {
        code: 'auth_invalid_token',
        message: `Meta rejected the access token (code 190): ${error.message}`,
        hint: 'Connect the number again with a valid permanent System User token (`lumen whatsapp connect --yes`).',
      };
    }
    if (error.code === 2200) {
      return {
        code: 'callback_not_verified',
        message: `Meta could not verify ${url}: ${error.message.replace(/^\(#2200\)\s*/, '')}`,
        hint: `Meta must reach the relay at that URL: is the tunnel up? \`curl ${healthz}\` from elsewhere should answer {"status":"ok"}.`,
      };
    }
    if (error.code === 10 || (error.code !== undefined && error.code >= 200 && error.code <= 299)) {
      return {
        code: 'auth_permission_denied',
        message: `The access token may not change this number's webhooks (code ${error.code}): ${error.message}`,
        hint: 'Give the System User whatsapp_business_management on this WhatsApp account.',
      };
    }
    return { code: 'graph_error', message: `Meta refused the Callback URL (code ${error.code ?? error.status}): ${error.message}`, hint: null };
  }
  if (error instanceof UserError) return { code: error.code, message: error.message, hint: error.hint ?? null };
  throw error;
}

export interface WebhookReadBack {
  /** Where Meta delivers this number's webhooks (the most specific URL set), and each level's URL. */
  callbackUrl: string | null;
  configuration: WebhookConfiguration;
  /** The URL lumen expects (`<public URL>/webhooks/whatsapp/<id>`), when a public URL is known. */
  expectedUrl: string | null;
  /** true: Meta delivers to lumen's URL; false: somewhere else (or nowhere); null: no public URL to compare with. */
  pointsHere: boolean | null;
  /**
   * Whose URL `expectedUrl` is: `running_relay` (a relay running on this machine), `registered` (the public URL a
   * relay registered last, maybe on another host of a shared database), null when none is known.
   */
  expectedFrom: 'running_relay' | 'registered' | null;
  /** This app (the token's) is subscribed to the WABA; null when the token's app could not be told. */
  appSubscribed: boolean | null;
  appId: string | null;
  /** Apps subscribed to the WABA, by id. */
  subscribedAppIds: string[];
}

/** Reads back from the Graph API where this number's webhooks go and whether this app is subscribed to the WABA. */
export async function readWebhookState(
  deps: ServiceDeps,
  integration: Integration,
  publicUrl: string | null,
  from: 'running_relay' | 'registered' = 'registered',
): Promise<WebhookReadBack> {
  const graph = await deps.graphFor(integration);
  const { accessToken } = await readIntegrationSecrets(deps, integration);
  const configuration = await getWebhookConfiguration(graph, integration.phoneNumberId);
  const apps = await listSubscribedApps(graph, integration.wabaId);
  const subscribedAppIds = apps.map((a) => a.whatsapp_business_api_data?.id).filter((id): id is string => typeof id === 'string');
  // The token names its app; an app that is not subscribed gets no webhooks, whichever others are.
  const appId = await debugToken(graph, accessToken).then(
    (info) => info.appId,
    () => null,
  );
  const callbackUrl = effectiveCallbackUrl(configuration);
  const expectedUrl = webhookUrl(publicUrl, integration.id);
  return {
    callbackUrl,
    configuration,
    expectedUrl,
    pointsHere: expectedUrl === null ? null : callbackUrl === expectedUrl,
    expectedFrom: expectedUrl === null ? null : from,
    appSubscribed: appId === null ? null : subscribedAppIds.includes(appId),
    appId,
    subscribedAppIds,
  };
}
