import { getPhoneNumber } from '../../graph/phone-numbers.js';
import { listSubscribedApps, subscribeApp } from '../../graph/subscriptions.js';
import { debugToken } from '../../graph/webhooks.js';
import type { GraphPhoneNumber } from '../../graph/types.js';
import type { Integration, TemplateSyncCounts, Workspace } from '../../store/types.js';
import { runQuietly, type ServiceDeps } from '../deps.js';
import { countApproved, fetchTemplateRecords } from '../templates/sync.js';
import { aboutObject } from '../../graph/explain.js';
import { deleteIntegrationSecrets, writeIntegrationSecrets, type IntegrationSecrets } from '../../secrets/integration.js';
import { hashVerifyToken, webhookPath, webhookUrl } from '../../webhooks.js';
import { newIntegrationId, newSecretRef, newVerifyToken } from './tokens.js';
import type { Registration } from './webhook.js';
import { UNPRINTABLE } from '../../text.js';

export interface ConnectInput extends IntegrationSecrets {
  workspace: Workspace;
  phoneNumberId: string;
  wabaId: string;
  label?: string | undefined;
  publicUrl?: string | undefined;
  /** Subscribe the app to the WABA's webhooks when it is not yet (default true). */
  subscribe: boolean;
  /** The integration this connect replaces (same phone number id), if the user agreed to update it. */
  existing?: Integration | undefined;
}

export type SubscriptionOutcome = 'already' | 'subscribed' | 'skipped';

/** The `--json` document of `lumen whatsapp connect` (DESIGN.md §2). */
export interface ConnectResult {
  id: string;
  label: string;
  workspace: string;
  phone: { id: string; displayPhoneNumber: string | null; verifiedName: string | null; qualityRating: string | null };
  templates: { synced: number; approved: number };
  webhook: {
    path: string;
    url: string | null;
    verifyToken: string;
    /** Registered with Meta now (a relay runs here), refused, or null: not tried (the relay registers it at start). */
    registration?: Registration | null;
  };
}

export interface ConnectOutcome {
  result: ConnectResult;
  /** As saved, and the verify token whose hash it holds (to register the Callback URL with it). */
  integration: Integration;
  verifyToken: string;
  updated: boolean;
  subscription: SubscriptionOutcome;
  secretStore: string;
  templateCounts: TemplateSyncCounts;
}

/**
 * Validates the number with the Graph API, makes sure the app is subscribed, syncs every template, then stores
 * the secrets and the integration. Nothing is written until every Graph call has succeeded, and a failed write
 * leaves neither a half-written integration nor orphan secrets.
 */
export async function connectWhatsApp(deps: ServiceDeps, input: ConnectInput): Promise<ConnectOutcome> {
  const progress = deps.progress ?? runQuietly;
  // The secret store first: a setting that cannot work (LUMEN_SECRET_STORE=database on SQLite, no keychain) stops
  // the command before Meta is asked for anything (a subscription, a template sync).
  const secrets = await deps.secrets();
  const graph = await deps.graph(input.accessToken);
  const phoneSubject = { kind: 'phone number', id: input.phoneNumberId, flag: '--phone-number-id' } as const;
  const wabaSubject = { kind: 'WABA', id: input.wabaId, flag: '--waba-id' } as const;

  const phone: GraphPhoneNumber = await progress(
    `Checking phone number ${input.phoneNumberId}`,
    () => aboutObject(phoneSubject, () => getPhoneNumber(graph, input.phoneNumberId)),
    (p) => `Phone number ${p.display_phone_number ?? p.id}${p.verified_name ? ` (${p.verified_name})` : ''}` +
      `${p.quality_rating ? ` · quality ${p.quality_rating}` : ''}`,
  );

  const subscription = await progress(
    `Checking the webhook subscription of WABA ${input.wabaId}`,
    async (): Promise<SubscriptionOutcome> => {
      const apps = await aboutObject(wabaSubject, () => listSubscribedApps(graph, input.wabaId));
      // Another app's subscription does not bring this app's webhooks: match the token's app id when Meta tells it.
      const appId = await debugToken(graph, input.accessToken).then((info) => info.appId, () => null);
      const ids = apps.map((a) => a.whatsapp_business_api_data?.id);
      if (appId === null ? apps.length > 0 : ids.includes(appId)) return 'already';
      if (!input.subscribe) return 'skipped';
      await aboutObject(wabaSubject, () => subscribeApp(graph, input.wabaId));
      return 'subscribed';
    },
    (outcome) =>
      outcome === 'already'
        ? `App already subscribed to WABA ${input.wabaId}`
        : outcome === 'subscribed'
          ? `Subscribed the app to WABA ${input.wabaId} (it was not: messages would never have arrived)`
          : `Not subscribed to WABA ${input.wabaId} (--no-subscribe): real messages will not reach the webhook`,
  );

  const now = deps.now().toISOString();
  const id = input.existing?.id ?? newIntegrationId();
  const records = await progress(
    'Syncing message templates',
    () => fetchTemplateRecords(graph, input.wabaId, id, now),
    (r) => `${r.length} templates synced (${countApproved(r)} approved)`,
  );

  const verifyToken = newVerifyToken();
  const secretRef = newSecretRef(id);
  const integration: Integration = {
    id,
    workspaceId: input.workspace.id,
    channel: 'whatsapp',
    // (Meta's names are printed as they are stored: no character that drives a terminal.)
    label: input.label?.trim() || plain(phone.verified_name) || plain(phone.display_phone_number) || input.phoneNumberId,
    phoneNumberId: input.phoneNumberId,
    wabaId: input.wabaId,
    displayPhoneNumber: phone.display_phone_number ?? null,
    verifiedName: phone.verified_name ?? null,
    qualityRating: phone.quality_rating ?? null,
    verifyTokenHash: hashVerifyToken(verifyToken),
    secretStore: secrets.kind,
    secretRef,
    publicUrl: input.publicUrl ?? input.existing?.publicUrl ?? null,
    appSubscribed: subscription !== 'skipped',
    templatesSyncedAt: now,
    createdAt: input.existing?.createdAt ?? now,
    updatedAt: now,
  };

  const templateCounts = await progress(
    `Saving secrets (${secrets.description})`,
    async () => {
      await writeIntegrationSecrets(secrets, secretRef, input);
      try {
        return await deps.store.integrations.saveWithTemplates(integration, records);
      } catch (error) {
        await deleteIntegrationSecrets(secrets, secretRef).catch(() => {});
        throw error;
      }
    },
    () => `Secrets saved in ${secrets.description}`,
  );

  // The previous generation of secrets is no longer referenced: remove it.
  if (input.existing && input.existing.secretRef !== secretRef) {
    const previous = await deps.secrets(input.existing.secretStore).catch(() => undefined);
    if (previous) await deleteIntegrationSecrets(previous, input.existing.secretRef).catch(() => {});
  }

  return {
    integration,
    verifyToken,
    result: {
      id,
      label: integration.label,
      workspace: input.workspace.name,
      phone: {
        id: input.phoneNumberId,
        displayPhoneNumber: integration.displayPhoneNumber,
        verifiedName: integration.verifiedName,
        qualityRating: integration.qualityRating,
      },
      templates: { synced: records.length, approved: countApproved(records) },
      webhook: { path: webhookPath(id), url: webhookUrl(integration.publicUrl, id), verifyToken },
    },
    updated: input.existing !== undefined,
    subscription,
    secretStore: secrets.description,
    templateCounts,
  };
}

/** Without control characters and bidirectional overrides. */
function plain(text: string | undefined): string | undefined {
  return text?.replace(UNPRINTABLE, '').trim();
}
