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
import { readWebhookState, type WebhookReadBack } from './webhook.js';

export interface IntegrationCheck {
  ok: boolean;
  token: 'valid' | 'invalid' | 'unknown';
  qualityRating: string | null;
  templates: { total: number; approved: number } | null;
  error: { code: string; message: string } | null;
  /** What else is wrong though the Graph API answered (this app not subscribed, webhooks going elsewhere). */
  problems: string[];
}

export interface IntegrationStatus {
  id: string;
  label: string;
  phone: { id: string; displayPhoneNumber: string | null; verifiedName: string | null; qualityRating: string | null };
  wabaId: string;
  webhook: {
    path: string;
    url: string | null;
    /** Where Meta sends this number's webhooks, read back from the Graph API; null when it could not be asked. */
    meta: WebhookReadBack | null;
    readBackError: { code: string; message: string } | null;
  };
  templates: { total: number; approved: number; syncedAt: string | null };
  /** This app subscribed to the WABA: as Meta says now, or as of connect when Meta could not be asked. */
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
  options: { check: boolean; integration?: string | undefined; relayPublicUrl?: string | null | undefined },
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
    // The running relay's public URL is where deliveries should go; else the one lumen registered or printed.
    const publicUrl = options.relayPublicUrl ?? integration.publicUrl;
    let meta: WebhookReadBack | null = null;
    let readBackError: { code: string; message: string } | null = null;
    try {
      meta = await readWebhookState(deps, integration, publicUrl, options.relayPublicUrl ? 'running_relay' : 'registered');
    } catch (error) {
      readBackError = describeFailure(error);
    }
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
      webhook: { path: webhookPath(integration.id), url: webhookUrl(publicUrl, integration.id), meta, readBackError },
      templates: { total: templates.length, approved: countApproved(templates), syncedAt: integration.templatesSyncedAt },
      appSubscribed: meta?.appSubscribed ?? integration.appSubscribed,
      secretStore: integration.secretStore,
      connectedAt: integration.createdAt,
      updatedAt: integration.updatedAt,
    };
    status.account = await accountStatus(deps, integration);
    if (options.check) status.check = await checkIntegration(deps, integration, status);
    statuses.push(status);
  }
  return { workspace: workspace.name, integrations: statuses };
}

/** Asks the Graph API again. Failures are reported in the result, not thrown, so every number gets checked. */
async function checkIntegration(deps: ServiceDeps, integration: Integration, status: IntegrationStatus): Promise<IntegrationCheck> {
  const check: IntegrationCheck = { ok: false, token: 'unknown', qualityRating: null, templates: null, error: null, problems: [] };
  try {
    const graph = await deps.graphFor(integration);
    const phone = await aboutObject({ kind: 'phone number', id: integration.phoneNumberId, flag: 'stored' }, () =>
      getPhoneNumber(graph, integration.phoneNumberId),
    );
    check.token = 'valid';
    check.qualityRating = phone.quality_rating ?? null;
    const records = await fetchTemplateRecords(graph, integration.wabaId, integration.id, deps.now().toISOString());
    check.templates = { total: records.length, approved: countApproved(records) };
    check.problems = webhookProblems(status);
    check.ok = check.problems.length === 0;
  } catch (error) {
    const cause = error instanceof UserError ? (error.cause ?? error) : error;
    if (cause instanceof GraphError && cause.isAuthError) check.token = 'invalid';
    if (error instanceof UserError) check.error = { code: error.code, message: error.message };
    else if (error instanceof GraphError) check.error = { code: 'graph_error', message: error.message };
    else throw error;
  }
  return check;
}

/** What keeps messages from reaching lumen, in words: nothing when deliveries come here. */
export function webhookProblems(status: IntegrationStatus): string[] {
  const problems: string[] = [];
  const meta = status.webhook.meta;
  if (status.webhook.readBackError) problems.push(`could not read the webhook setup back: ${status.webhook.readBackError.message}`);
  if (!status.appSubscribed) problems.push(`app not subscribed to WABA ${status.wabaId}: messages will not arrive`);
  // With no public URL known yet (connected, relay not started), no Callback URL is the expected state, not a fault.
  if (meta && meta.pointsHere === false) {
    problems.push(
      meta.callbackUrl === null
        ? `Meta has no Callback URL for this number: deliveries go nowhere (lumen expects ${meta.expectedUrl})`
        : `Meta delivers to ${meta.callbackUrl}, not to ${meta.expectedUrl}`,
    );
  }
  return problems;
}

function describeFailure(error: unknown): { code: string; message: string } {
  if (error instanceof UserError) return { code: error.code, message: error.message };
  if (error instanceof GraphError) return { code: error.isAuthError ? 'auth_invalid_token' : 'graph_error', message: error.message };
  throw error;
}
