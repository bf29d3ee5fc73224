import type { Integration } from '../../store/types.js';
import type { ServiceDeps } from '../deps.js';
import { hashVerifyToken, webhookPath, webhookUrl } from '../../webhooks.js';
import { newVerifyToken } from './tokens.js';

export interface RotateTokenResult {
  id: string;
  label: string;
  webhook: { path: string; url: string | null; verifyToken: string };
}

/** A new verify token replaces the stored hash at once: the old token stops matching. */
export async function rotateVerifyToken(deps: ServiceDeps, integration: Integration): Promise<RotateTokenResult> {
  const verifyToken = newVerifyToken();
  await deps.store.integrations.setVerifyTokenHash(integration.id, hashVerifyToken(verifyToken), deps.now().toISOString());
  return {
    id: integration.id,
    label: integration.label,
    webhook: { path: webhookPath(integration.id), url: webhookUrl(integration.publicUrl, integration.id), verifyToken },
  };
}
