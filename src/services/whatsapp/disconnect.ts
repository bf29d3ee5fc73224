import type { Integration } from '../../store/types.js';
import type { ServiceDeps } from '../deps.js';
import { deleteIntegrationSecrets } from '../../secrets/integration.js';
import { webhookPath } from '../../webhooks.js';

export interface DisconnectResult {
  id: string;
  label: string;
  phoneNumberId: string;
  disconnected: true;
  purged: boolean;
  /** Stored inbound messages deleted (only with purge). */
  messagesPurged: number;
  webhookPath: string;
}

/**
 * Removes the secrets first, then the integration and its templates. If the secret store fails, the
 * integration stays, so the user can retry without losing track of where the secrets were.
 */
export async function disconnectWhatsApp(
  deps: ServiceDeps,
  integration: Integration,
  options: { purge: boolean },
): Promise<DisconnectResult> {
  const secrets = await deps.secrets(integration.secretStore);
  await deleteIntegrationSecrets(secrets, integration.secretRef);
  // Stored messages are kept unless --purge: they are the user's history, not the connection's.
  const messagesPurged = options.purge ? await deps.store.inbox.purgeIntegration(integration.id) : 0;
  await deps.store.integrations.delete(integration.id);
  return {
    id: integration.id,
    label: integration.label,
    phoneNumberId: integration.phoneNumberId,
    disconnected: true,
    purged: options.purge,
    messagesPurged,
    webhookPath: webhookPath(integration.id),
  };
}
