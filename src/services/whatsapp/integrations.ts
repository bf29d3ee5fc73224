import { UsageError, UserError } from '../../errors.js';
import type { Integration, Store, Workspace } from '../../store/types.js';

export { webhookPath, webhookUrl } from '../../webhooks.js';
export { readIntegrationSecrets } from '../../secrets/integration.js';

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
  if (selector !== undefined && selector.trim() === '') throw new UsageError('--integration is empty: give a number\'s id or phone number id (see `lumen whatsapp status`).');
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

