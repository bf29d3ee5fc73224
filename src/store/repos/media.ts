import type { Database } from '../db.js';
import type { MediaRecord, MediaRepo } from '../types.js';
import { interactionId, interactionSeq } from './inbox.js';

export interface MediaRow {
  integration_id: string;
  media_id: string;
  workspace_id: string;
  interaction_seq: number | null;
  direction: string;
  state: string;
  mime_type: string | null;
  sha256: string | null;
  size: number | null;
  filename: string | null;
  caption: string | null;
  path: string | null;
  attempts: number;
  next_attempt_at: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

export const toMedia = (row: MediaRow): MediaRecord => ({
  integrationId: row.integration_id,
  mediaId: row.media_id,
  workspaceId: row.workspace_id,
  interactionId: row.interaction_seq === null ? null : interactionId(row.interaction_seq),
  direction: row.direction === 'out' ? 'out' : 'in',
  state: row.state as MediaRecord['state'],
  mimeType: row.mime_type,
  sha256: row.sha256,
  size: row.size,
  filename: row.filename,
  caption: row.caption,
  path: row.path,
  attempts: row.attempts,
  nextAttemptAt: row.next_attempt_at,
  lastError: row.last_error,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export function createMediaRepo(db: Database): MediaRepo {
  // One statement claims, as for dispatch events: a download is worked by one fetcher at a time.
  const claimDue = db.prepare<{ now: string; until: string; limit: number }, MediaRow>(
    `UPDATE media SET claimed_until = @until, attempts = attempts + 1, updated_at = @now
     WHERE rowid IN (
       SELECT rowid FROM media
        WHERE state = 'pending' AND next_attempt_at <= @now AND (claimed_until IS NULL OR claimed_until <= @now)
        ORDER BY next_attempt_at LIMIT @limit)
     RETURNING *`,
  );
  const renew = db.prepare<[string, string]>(
    `UPDATE media SET claimed_until = ?
      WHERE state = 'pending' AND claimed_until IS NOT NULL
        AND (integration_id, media_id) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))`,
  );
  const stored = db.prepare(
    `UPDATE media SET state = 'stored', path = @path, size = @size, sha256 = @sha256,
       mime_type = COALESCE(@mimeType, mime_type), last_error = NULL, claimed_until = NULL, next_attempt_at = NULL,
       updated_at = @now
     WHERE integration_id = @integrationId AND media_id = @mediaId`,
  );
  const attemptFailed = db.prepare(
    `UPDATE media SET state = CASE WHEN @nextAttemptAt IS NULL THEN 'failed' ELSE 'pending' END,
       next_attempt_at = @nextAttemptAt, last_error = @error, claimed_until = NULL, updated_at = @now
     WHERE integration_id = @integrationId AND media_id = @mediaId`,
  );
  const upload = db.prepare(
    `INSERT INTO media (integration_id, media_id, workspace_id, interaction_seq, direction, state, mime_type, sha256,
       size, filename, caption, path, created_at, updated_at)
     VALUES (@integrationId, @mediaId, @workspaceId, NULL, 'out', 'uploaded', @mimeType, @sha256, @size, @filename,
       @caption, @path, @now, @now)
     ON CONFLICT (integration_id, media_id) DO NOTHING`,
  );
  const find = db.prepare<[string, string], MediaRow>('SELECT * FROM media WHERE integration_id = ? AND media_id = ?');
  const inWorkspace = db.prepare<[string, string], MediaRow>('SELECT * FROM media WHERE workspace_id = ? AND media_id = ? LIMIT 1');
  const byInteraction = db.prepare<[number], MediaRow>('SELECT * FROM media WHERE interaction_seq = ? LIMIT 1');
  const list = db.prepare<[string, number], MediaRow>('SELECT * FROM media WHERE workspace_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?');
  const release = db.prepare('UPDATE media SET claimed_until = NULL WHERE claimed_until IS NOT NULL');
  // Two lookups (by path, by hash), each on its index (014_media_by_file).
  const inUse = db.prepare<[string, string | null], number>('SELECT EXISTS (SELECT 1 FROM media WHERE path = ?) OR EXISTS (SELECT 1 FROM media WHERE sha256 = ? AND path IS NOT NULL)').pluck();

  return {
    async claimDue(now, leaseUntil, limit) {
      return claimDue.all({ now, until: leaseUntil, limit }).map(toMedia);
    },
    async markStored(integrationId, mediaId, file, now) {
      stored.run({ integrationId, mediaId, now, ...file });
    },
    async markAttemptFailed(integrationId, mediaId, error, nextAttemptAt, now) {
      attemptFailed.run({ integrationId, mediaId, error, nextAttemptAt, now });
    },
    async recordUpload(record, now) {
      upload.run({ ...record, now });
    },
    async fileInUse(path, sha256) {
      return inUse.get(path, sha256) === 1;
    },
    async find(integrationId, mediaId) {
      const row = find.get(integrationId, mediaId);
      return row ? toMedia(row) : undefined;
    },
    async findInWorkspace(workspaceId, mediaId) {
      const row = inWorkspace.get(workspaceId, mediaId);
      return row ? toMedia(row) : undefined;
    },
    async forInteraction(id) {
      const seq = interactionSeq(id);
      const row = seq === undefined ? undefined : byInteraction.get(seq);
      return row ? toMedia(row) : undefined;
    },
    async list(workspaceId, limit) {
      return list.all(workspaceId, limit).map(toMedia);
    },
    async renewClaims(keys, leaseUntil) {
      if (keys.length === 0) return;
      renew.run(leaseUntil, JSON.stringify(keys.map((k) => [k.integrationId, k.mediaId])));
    },
    async releaseClaims() {
      return release.run().changes;
    },
  };
}
