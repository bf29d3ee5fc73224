import { interactionSeq } from '../../repos/inbox.js';
import { toMedia, type MediaRow } from '../../repos/media.js';
import type { MediaRepo } from '../../types.js';
import type { PgDatabase } from '../db.js';

export function createMediaRepo(db: PgDatabase): MediaRepo {
  return {
    async claimDue(now, leaseUntil, limit) {
      // One statement claims, as for dispatch events: a download is worked by one fetcher at a time.
      const rows = await db.all<MediaRow>(
        `UPDATE media SET claimed_until = $2, attempts = attempts + 1, updated_at = $1
          WHERE (integration_id, media_id) IN (
            SELECT integration_id, media_id FROM media
             WHERE state = 'pending' AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1)
             ORDER BY next_attempt_at LIMIT $3
             FOR UPDATE SKIP LOCKED)
          RETURNING *`,
        [now, leaseUntil, limit],
      );
      return rows.map(toMedia);
    },
    async renewClaims(keys, leaseUntil) {
      if (keys.length === 0) return;
      await db.run(
        `UPDATE media SET claimed_until = $1
          WHERE state = 'pending' AND claimed_until IS NOT NULL
            AND (integration_id, media_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
        [leaseUntil, keys.map((k) => k.integrationId), keys.map((k) => k.mediaId)],
      );
    },
    async markStored(integrationId, mediaId, file, now) {
      await db.run(
        `UPDATE media SET state = 'stored', path = $3, size = $4, sha256 = $5, mime_type = COALESCE($6, mime_type),
           last_error = NULL, claimed_until = NULL, next_attempt_at = NULL, updated_at = $7
         WHERE integration_id = $1 AND media_id = $2`,
        [integrationId, mediaId, file.path, file.size, file.sha256, file.mimeType, now],
      );
    },
    async markAttemptFailed(integrationId, mediaId, error, nextAttemptAt, now) {
      await db.run(
        `UPDATE media SET state = CASE WHEN $4::text IS NULL THEN 'failed' ELSE 'pending' END,
           next_attempt_at = $4, last_error = $3, claimed_until = NULL, updated_at = $5
         WHERE integration_id = $1 AND media_id = $2`,
        [integrationId, mediaId, error, nextAttemptAt, now],
      );
    },
    async recordUpload(record, now) {
      await db.run(
        `INSERT INTO media (integration_id, media_id, workspace_id, interaction_seq, direction, state, mime_type, sha256,
           size, filename, caption, path, created_at, updated_at)
         VALUES ($1, $2, $3, NULL, 'out', 'uploaded', $4, $5, $6, $7, $8, $9, $10, $10)
         ON CONFLICT (integration_id, media_id) DO NOTHING`,
        [
          record.integrationId,
          record.mediaId,
          record.workspaceId,
          record.mimeType,
          record.sha256,
          record.size,
          record.filename,
          record.caption,
          record.path,
          now,
        ],
      );
    },
    async fileInUse(path, sha256) {
      // Two lookups (by path, by hash), each on its index (007_media_by_file).
      const row = await db.get<{ used: boolean }>(
        'SELECT EXISTS (SELECT 1 FROM media WHERE path = $1) OR EXISTS (SELECT 1 FROM media WHERE sha256 = $2 AND path IS NOT NULL) AS used',
        [path, sha256],
      );
      return row?.used === true;
    },
    async find(integrationId, mediaId) {
      const row = await db.get<MediaRow>('SELECT * FROM media WHERE integration_id = $1 AND media_id = $2', [integrationId, mediaId]);
      return row ? toMedia(row) : undefined;
    },
    async findInWorkspace(workspaceId, mediaId) {
      const row = await db.get<MediaRow>('SELECT * FROM media WHERE workspace_id = $1 AND media_id = $2 LIMIT 1', [workspaceId, mediaId]);
      return row ? toMedia(row) : undefined;
    },
    async forInteraction(id) {
      const seq = interactionSeq(id);
      const row = seq === undefined ? undefined : await db.get<MediaRow>('SELECT * FROM media WHERE interaction_seq = $1 LIMIT 1', [seq]);
      return row ? toMedia(row) : undefined;
    },
    async list(workspaceId, limit) {
      // SQLite breaks ties by rowid (insertion order); PostgreSQL has none, so by the message then the id.
      const rows = await db.all<MediaRow>(
        `SELECT * FROM media WHERE workspace_id = $1
          ORDER BY created_at DESC, interaction_seq DESC NULLS LAST, media_id DESC LIMIT $2`,
        [workspaceId, limit],
      );
      return rows.map(toMedia);
    },
    async releaseClaims() {
      return db.run('UPDATE media SET claimed_until = NULL WHERE claimed_until IS NOT NULL');
    },
  };
}
