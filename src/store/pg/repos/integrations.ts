import type { PgDatabase } from '../db.js';
import { toIntegration, type IntegrationRow } from '../../repos/integrations.js';
import type { IntegrationRepo } from '../../types.js';
import { replaceTemplates } from './templates.js';

const COLUMNS = [
  'id', 'workspace_id', 'channel', 'label', 'phone_number_id', 'waba_id', 'display_phone_number', 'verified_name',
  'quality_rating', 'verify_token_hash', 'secret_store', 'secret_ref', 'public_url', 'app_subscribed',
  'templates_synced_at', 'created_at', 'updated_at',
] as const;
/** What a re-connect replaces (the id, workspace and creation time stay). */
const UPDATED = COLUMNS.filter((c) => !['id', 'workspace_id', 'channel', 'created_at'].includes(c));

export function createIntegrationRepo(db: PgDatabase): IntegrationRepo {
  return {
    async list(workspaceId) {
      return (await db.all<IntegrationRow>('SELECT * FROM integrations WHERE workspace_id = $1 ORDER BY created_at, id', [workspaceId])).map(toIntegration);
    },
    async listAll() {
      const rows = await db.all<IntegrationRow & { workspace_name: string }>(
        `SELECT integrations.*, workspaces.name AS workspace_name FROM integrations
         JOIN workspaces ON workspaces.id = integrations.workspace_id ORDER BY integrations.created_at, integrations.id`,
      );
      return rows.map((row) => ({ ...toIntegration(row), workspaceName: row.workspace_name }));
    },
    async findById(id) {
      const row = await db.get<IntegrationRow>('SELECT * FROM integrations WHERE id = $1', [id]);
      return row ? toIntegration(row) : undefined;
    },
    async findByPhoneNumberId(workspaceId, phoneNumberId) {
      const row = await db.get<IntegrationRow>('SELECT * FROM integrations WHERE workspace_id = $1 AND phone_number_id = $2', [workspaceId, phoneNumberId]);
      return row ? toIntegration(row) : undefined;
    },
    async saveWithTemplates(integration, templates) {
      const i = integration;
      const values = [
        i.id, i.workspaceId, i.channel, i.label, i.phoneNumberId, i.wabaId, i.displayPhoneNumber, i.verifiedName,
        i.qualityRating, i.verifyTokenHash, i.secretStore, i.secretRef, i.publicUrl, i.appSubscribed ? 1 : 0,
        i.templatesSyncedAt, i.createdAt, i.updatedAt,
      ];
      return db.tx(async (client) => {
        // UNIQUE (workspace_id, phone_number_id) refuses a second integration for a number, as on SQLite.
        await client.query(
          `INSERT INTO integrations (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, n) => `$${n + 1}`).join(', ')})
           ON CONFLICT (id) DO UPDATE SET ${UPDATED.map((c) => `${c} = excluded.${c}`).join(', ')}`,
          values,
        );
        return replaceTemplates(client, integration.id, templates);
      });
    },
    async setVerifyTokenHash(id, hash, now) {
      await db.run('UPDATE integrations SET verify_token_hash = $1, updated_at = $2 WHERE id = $3', [hash, now, id]);
    },
    async setPublicUrl(id, publicUrl, now) {
      await db.run('UPDATE integrations SET public_url = $1, updated_at = $2 WHERE id = $3', [publicUrl, now, id]);
    },
    async delete(id) {
      return (await db.run('DELETE FROM integrations WHERE id = $1', [id])) > 0;
    },
    async changeMarker() {
      // Moved by the integrations_changed trigger on every statement that writes integrations, from any host.
      const row = await db.get<{ integrations: number }>('SELECT integrations FROM store_changes WHERE id = 1');
      return row?.integrations ?? 0;
    },
  };
}
