import type { Database } from '../db.js';
import type { Integration, IntegrationRepo } from '../types.js';
import { replaceTemplates } from './templates.js';

export interface IntegrationRow {
  id: string;
  workspace_id: string;
  channel: string;
  label: string;
  phone_number_id: string;
  waba_id: string;
  display_phone_number: string | null;
  verified_name: string | null;
  quality_rating: string | null;
  verify_token_hash: string;
  secret_store: string;
  secret_ref: string;
  public_url: string | null;
  app_subscribed: number;
  templates_synced_at: string | null;
  created_at: string;
  updated_at: string;
}

export const toIntegration = (row: IntegrationRow): Integration => ({
  id: row.id,
  workspaceId: row.workspace_id,
  channel: 'whatsapp',
  label: row.label,
  phoneNumberId: row.phone_number_id,
  wabaId: row.waba_id,
  displayPhoneNumber: row.display_phone_number,
  verifiedName: row.verified_name,
  qualityRating: row.quality_rating,
  verifyTokenHash: row.verify_token_hash,
  secretStore: row.secret_store as Integration['secretStore'],
  secretRef: row.secret_ref,
  publicUrl: row.public_url,
  appSubscribed: row.app_subscribed === 1,
  templatesSyncedAt: row.templates_synced_at,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export function createIntegrationRepo(db: Database): IntegrationRepo {
  const list = db.prepare<[string], IntegrationRow>(
    'SELECT * FROM integrations WHERE workspace_id = ? ORDER BY created_at, id',
  );
  const all = db.prepare<[], IntegrationRow & { workspace_name: string }>(
    `SELECT integrations.*, workspaces.name AS workspace_name FROM integrations
     JOIN workspaces ON workspaces.id = integrations.workspace_id ORDER BY integrations.created_at`,
  );
  const byId = db.prepare<[string], IntegrationRow>('SELECT * FROM integrations WHERE id = ?');
  const byPhone = db.prepare<[string, string], IntegrationRow>(
    'SELECT * FROM integrations WHERE workspace_id = ? AND phone_number_id = ?',
  );
  const upsert = db.prepare(
    `INSERT INTO integrations (id, workspace_id, channel, label, phone_number_id, waba_id, display_phone_number,
       verified_name, quality_rating, verify_token_hash, secret_store, secret_ref, public_url, app_subscribed,
       templates_synced_at, created_at, updated_at)
     VALUES (@id, @workspaceId, @channel, @label, @phoneNumberId, @wabaId, @displayPhoneNumber, @verifiedName,
       @qualityRating, @verifyTokenHash, @secretStore, @secretRef, @publicUrl, @appSubscribed, @templatesSyncedAt,
       @createdAt, @updatedAt)
     ON CONFLICT (id) DO UPDATE SET label = excluded.label, phone_number_id = excluded.phone_number_id,
       waba_id = excluded.waba_id, display_phone_number = excluded.display_phone_number,
       verified_name = excluded.verified_name, quality_rating = excluded.quality_rating,
       verify_token_hash = excluded.verify_token_hash, secret_store = excluded.secret_store,
       secret_ref = excluded.secret_ref, public_url = excluded.public_url, app_subscribed = excluded.app_subscribed,
       templates_synced_at = excluded.templates_synced_at, updated_at = excluded.updated_at`,
  );
  const setHash = db.prepare('UPDATE integrations SET verify_token_hash = ?, updated_at = ? WHERE id = ?');
  const setUrl = db.prepare('UPDATE integrations SET public_url = ?, updated_at = ? WHERE id = ?');
  const remove = db.prepare('DELETE FROM integrations WHERE id = ?');
  const marker = db.prepare<[], number>('SELECT integrations FROM store_changes WHERE id = 1').pluck();
  // Rows this connection has written since it opened: reading it takes no lock and no read transaction.
  const ownChanges = db.prepare<[], number>('SELECT total_changes()').pluck();
  let turn: { marker: number; ownChanges: number } | undefined;

  return {
    async list(workspaceId) {
      return list.all(workspaceId).map(toIntegration);
    },
    async listAll() {
      return all.all().map((row) => ({ ...toIntegration(row), workspaceName: row.workspace_name }));
    },
    async findById(id) {
      const row = byId.get(id);
      return row ? toIntegration(row) : undefined;
    },
    async findByPhoneNumberId(workspaceId, phoneNumberId) {
      const row = byPhone.get(workspaceId, phoneNumberId);
      return row ? toIntegration(row) : undefined;
    },
    async saveWithTemplates(integration, templates) {
      return db.transaction(() => {
        upsert.run({ ...integration, appSubscribed: integration.appSubscribed ? 1 : 0 });
        return replaceTemplates(db, integration.id, templates);
      })();
    },
    async setVerifyTokenHash(id, hash, now) {
      setHash.run(hash, now, id);
    },
    async setPublicUrl(id, publicUrl, now) {
      setUrl.run(publicUrl, now, id);
    },
    async delete(id) {
      return remove.run(id).changes > 0;
    },
    async changeMarker() {
      // Each read outside a transaction is a read transaction of its own (file locks, two syscalls or more), and the
      // relay asks once per webhook request. One read serves the rest of this turn of the event loop: the requests
      // handled in it were read off their sockets after it began, so whatever another process had committed before
      // they arrived is in it. A write by this connection (the relay's own rotate, a test's) moves total_changes()
      // and is read at once; the next turn reads again (setImmediate runs right after this turn's I/O callbacks).
      const own = ownChanges.get() ?? 0;
      if (turn && turn.ownChanges === own) return turn.marker;
      if (!turn) {
        setImmediate(() => {
          turn = undefined;
        }).unref();
      }
      turn = { marker: marker.get() ?? 0, ownChanges: own };
      return turn.marker;
    },
  };
}
