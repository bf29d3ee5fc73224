import { getPhoneNumber } from '../../graph/phone-numbers.js';
import { GraphError } from '../../graph/errors.js';
import { UserError } from '../../errors.js';
import type { Integration, Workspace } from '../../store/types.js';
import type { ServiceDeps } from '../deps.js';
import { countApproved, fetchTemplateRecords } from '../templates/sync.js';
import { aboutObject } from '../../graph/explain.js';
import { webhookPath, webhookUrl } from '../../webhooks.js';
import { notConnected } from './integrations.js';
import { COEXISTENCE_SEND_RATE, DEFAULT_SEND_RATE } from '../messages/outbox.js';

export interface IntegrationCheck {
  ok: boolean;
  token: 'valid' | 'invalid' | 'unknown';
  qualityRating: string | null;
  templates: { total: number; approved: number } | null;
  error: { code: string; message: string } | null;
}

export interface IntegrationStatus {
  id: string;
  label: string;
  phone: { id: string; displayPhoneNumber: string | null; verifiedName: string | null; qualityRating: string | null };
  wabaId: string;
  webhook: { path: string; url: string | null };
  templates: { total: number; approved: number; syncedAt: string | null };
  appSubscribed: boolean;
  secretStore: string;
  connectedAt: string;
  updatedAt: string;
  check?: IntegrationCheck;
  /** What Meta's account webhooks last said of the number. */
  account?: AccountStatus;
}

/** The number's quality, messaging limit, restriction and coexistence, from its latest account webhooks. */
export interface AccountStatus {
  qualityRating: string | null;
  messagingLimit: string | null;
  restriction: string | null;
  lastEvent: string | null;
  /** Also on the WhatsApp Business app: its throughput is 20 messages per second (the default send rate). */
  coexistence: boolean;
  sendRate: number;
  updatedAt: string | null;
}

/** The account facts webhooks recorded for a number (none yet: its quality as of the last connect or sync). */
export async function accountStatus(deps: Pick<ServiceDeps, 'store'>, integration: Integration): Promise<AccountStatus> {
  const facts = await deps.store.facts.accountFacts(integration.id);
  const coexistence = facts?.coexistence === true;
  return {
    qualityRating: facts?.qualityRating ?? integration.qualityRating,
    messagingLimit: facts?.messagingLimit ?? null,
    restriction: facts?.restriction ?? null,
    lastEvent: facts?.accountEvent ?? null,
    coexistence,
    sendRate: coexistence ? COEXISTENCE_SEND_RATE : DEFAULT_SEND_RATE,
    updatedAt: facts?.updatedAt ?? null,
  };
}

export interface StatusResult {
  workspace: string;
  integrations: IntegrationStatus[];
}

/** What is connected. Never includes the verify token (only its hash exists) or any secret. */
export async function whatsappStatus(
  deps: ServiceDeps,
  workspace: Workspace,
  options: { check: boolean; integration?: string | undefined },
): Promise<StatusResult> {
  let integrations = await deps.store.integrations.list(workspace.id);
  if (options.integration) {
    integrations = integrations.filter((i) => i.id === options.integration || i.phoneNumberId === options.integration);
    if (integrations.length === 0) {
      throw new UserError(`No integration "${options.integration}" in workspace ${workspace.name}.`, {
        code: 'integration_not_found',
        hint: 'Run `lumen whatsapp status` to list them.',
      });
    }
  }
  if (integrations.length === 0) throw notConnected(workspace);

  const statuses: IntegrationStatus[] = [];
  for (const integration of integrations) {
    const templates = await deps.store.templates.list(integration.id);
    const status: IntegrationStatus = {
      id: integration.id,
      label: integration.label,
      phone: {
        id: integration.phoneNumberId,
        displayPhoneNumber: integration.displayPhoneNumber,
        verifiedName: integration.verifiedName,
        qualityRating: integration.qualityRating,
      },
      wabaId: integration.wabaId,
      webhook: { path: webhookPath(integration.id), url: webhookUrl(integration.publicUrl, integration.id) },
      templates: { total: templates.length, approved: countApproved(templates), syncedAt: integration.templatesSyncedAt },
      appSubscribed: integration.appSubscribed,
      secretStore: integration.secretStore,
      connectedAt: integration.createdAt,
      updatedAt: integration.updatedAt,
    };
    status.account = await accountStatus(deps, integration);
    if (options.check) status.check = await checkIntegration(deps, integration);
    statuses.push(status);
  }
  return { workspace: workspace.name, integrations: statuses };
}

/** Asks the Graph API again. Failures are reported in the result, not thrown, so every number gets checked. */
async function checkIntegration(deps: ServiceDeps, integration: Integration): Promise<IntegrationCheck> {
  const check: IntegrationCheck = { ok: false, token: 'unknown', qualityRating: null, templates: null, error: null };
  try {
    const graph = await deps.graphFor(integration);
    const phone = await aboutObject({ kind: 'phone number', id: integration.phoneNumberId, flag: 'stored' }, () =>
      getPhoneNumber(graph, integration.phoneNumberId),
    );
    check.token = 'valid';
    check.qualityRating = phone.quality_rating ?? null;
    const records = await fetchTemplateRecords(graph, integration.wabaId, integration.id, deps.now().toISOString());
    check.templates = { total: records.length, approved: countApproved(records) };
    check.ok = true;
  } catch (error) {
    const cause = error instanceof UserError ? (error.cause ?? error) : error;
    if (cause instanceof GraphError && cause.isAuthError) check.token = 'invalid';
    if (error instanceof UserError) check.error = { code: error.code, message: error.message };
    else if (error instanceof GraphError) check.error = { code: 'graph_error', message: error.message };
    else throw error;
  }
  return check;
}
