import { UsageError, UserError } from '../../errors.js';
import { secretKey } from '../../secrets/index.js';
import type { SecretStore } from '../../secrets/types.js';
import type { Integration, Store, Workspace } from '../../store/types.js';
import type { ServiceDeps } from '../deps.js';

export const WEBHOOK_PATH_PREFIX = '/webhooks/whatsapp/';

export function webhookPath(integrationId: string): string {
  return `${WEBHOOK_PATH_PREFIX}${integrationId}`;
}

export function webhookUrl(publicUrl: string | null | undefined, integrationId: string): string | null {
  if (!publicUrl) return null;
  return `${publicUrl.replace(/\/+$/, '')}${webhookPath(integrationId)}`;
}

export function describeIntegration(integration: Integration): string {
  const number = integration.displayPhoneNumber ?? integration.phoneNumberId;
  return `${integration.label} (${number})`;
}

/**
 * The integration a command acts on: the one named by `--integration` (id or phone number id),
 * or the only one in the workspace.
 */
export async function resolveIntegration(
  store: Store,
  workspace: Workspace,
  selector: string | undefined,
): Promise<Integration> {
  const all = await store.integrations.list(workspace.id);
  if (selector) {
    const match = all.find((i) => i.id === selector || i.phoneNumberId === selector);
    if (!match) {
      throw new UserError(`No integration "${selector}" in workspace ${workspace.name}.`, {
        code: 'integration_not_found',
        hint: all.length > 0 ? `Connected: ${all.map((i) => `${i.id} ${describeIntegration(i)}`).join('; ')}.` : 'Run `lumen whatsapp connect` first.',
      });
    }
    return match;
  }
  if (all.length === 0) throw notConnected(workspace);
  if (all.length > 1) {
    throw new UsageError(
      `Several numbers are connected in workspace ${workspace.name}; say which with --integration.`,
      `Connected: ${all.map((i) => `${i.id} ${describeIntegration(i)}`).join('; ')}.`,
    );
  }
  return all[0]!;
}

export function notConnected(workspace: Workspace): UserError {
  return new UserError(`No WhatsApp number is connected in workspace ${workspace.name}.`, {
    code: 'not_connected',
    hint: 'Run `lumen whatsapp connect` (or `lumen sandbox start` to try it without Meta).',
  });
}

export interface IntegrationSecrets {
  accessToken: string;
  appSecret: string;
}

export async function writeIntegrationSecrets(store: SecretStore, secretRef: string, secrets: IntegrationSecrets) {
  await store.set(secretKey(secretRef, 'access_token'), secrets.accessToken);
  await store.set(secretKey(secretRef, 'app_secret'), secrets.appSecret);
}

/** Best effort: used to clean up after a failure, where the first error is the one to report. */
export async function deleteIntegrationSecrets(store: SecretStore, secretRef: string): Promise<void> {
  await store.delete(secretKey(secretRef, 'access_token'));
  await store.delete(secretKey(secretRef, 'app_secret'));
}

export async function readIntegrationSecrets(deps: ServiceDeps, integration: Integration): Promise<IntegrationSecrets> {
  const store = await deps.secrets(integration.secretStore);
  const accessToken = await store.get(secretKey(integration.secretRef, 'access_token'));
  const appSecret = await store.get(secretKey(integration.secretRef, 'app_secret'));
  if (accessToken === undefined || appSecret === undefined) {
    throw new UserError(`The secrets of ${describeIntegration(integration)} are missing from ${store.description}.`, {
      code: 'secrets_missing',
      hint: 'Run `lumen whatsapp connect` again for this number to store them anew.',
    });
  }
  return { accessToken, appSecret };
}
