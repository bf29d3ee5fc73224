import { UserError } from '../../errors.js';
import { markRead } from '../../graph/media.js';
import type { Integration, Interaction, Workspace } from '../../store/types.js';
import type { ServiceDeps } from '../deps.js';

/**
 * Marks a message lumen received as read (blue ticks), with the typing indicator when asked. Only a message lumen
 * stored (by its wamid, or its `in_…` id) in one of the workspace's numbers: Meta refuses any other id, and the
 * number that received it is the one that must mark it.
 */
export async function markReceivedRead(
  deps: Pick<ServiceDeps, 'graphFor' | 'store'>,
  workspace: Workspace,
  ref: string,
  typing: boolean,
): Promise<{ interaction: Interaction; integration: Integration }> {
  const { store } = deps;
  const integrations = await store.integrations.list(workspace.id);
  let interaction: Interaction | undefined;
  if (ref.startsWith('in_')) {
    const found = await store.inbox.findInteraction(ref);
    if (found?.workspaceId === workspace.id) interaction = found;
  } else {
    for (const integration of integrations) interaction ??= await store.inbox.findByWamid(integration.id, ref);
  }
  const integration = interaction && integrations.find((i) => i.id === interaction.integrationId);
  if (!interaction || !integration) {
    throw new UserError(`lumen never received a message ${ref} in workspace ${workspace.name}: only received messages can be marked read.`, {
      code: 'message_not_found',
      kind: 'not_found',
      hint: '`lumen messages list --json` shows the received messages with their wamid.',
    });
  }
  await markRead(await deps.graphFor(integration), integration.phoneNumberId, interaction.wamid, typing);
  return { interaction, integration };
}
