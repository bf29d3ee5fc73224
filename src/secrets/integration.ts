/** Where a connected number's access token and app secret live: one generation per `secretRef`. */
import { UserError } from '../errors.js';
import type { Integration } from '../store/types.js';
import { secretKey } from './index.js';
import type { SecretBackendKind, SecretStore } from './types.js';

export interface IntegrationSecrets {
  accessToken: string;
  appSecret: string;
}

/**
 * An app secret is 32 hex digits, and Meta signs with it in lower case: one pasted in upper case would make every
 * genuine delivery fail its signature check. Kept, and read, in lower case.
 */
export function normalizeAppSecret(appSecret: string): string {
  return appSecret.trim().toLowerCase();
}

export async function writeIntegrationSecrets(store: SecretStore, secretRef: string, secrets: IntegrationSecrets) {
  await store.set(secretKey(secretRef, 'access_token'), secrets.accessToken.trim());
  await store.set(secretKey(secretRef, 'app_secret'), normalizeAppSecret(secrets.appSecret));
}

/** Best effort: used to clean up after a failure, where the first error is the one to report. */
export async function deleteIntegrationSecrets(store: SecretStore, secretRef: string): Promise<void> {
  await store.delete(secretKey(secretRef, 'access_token'));
  await store.delete(secretKey(secretRef, 'app_secret'));
}

export async function readIntegrationSecrets(
  deps: { secrets(kind?: SecretBackendKind): Promise<SecretStore> },
  integration: Integration,
): Promise<IntegrationSecrets> {
  const store = await deps.secrets(integration.secretStore);
  const accessToken = await store.get(secretKey(integration.secretRef, 'access_token'));
  const appSecret = await store.get(secretKey(integration.secretRef, 'app_secret'));
  if (accessToken === undefined || appSecret === undefined) {
    throw new UserError(`The secrets of ${integration.label} (${integration.displayPhoneNumber ?? integration.phoneNumberId}) are missing from ${store.description}.`, {
      code: 'secrets_missing',
      hint: 'Run `lumen whatsapp connect` again for this number to store them anew.',
    });
  }
  // Secrets stored before they were normalised are read as they are meant.
  return { accessToken, appSecret: normalizeAppSecret(appSecret) };
}
