import type { PgDatabase } from '../db.js';
import type { MediaRepo } from '../../types.js';

export function createMediaRepo(db: PgDatabase): MediaRepo {
  void db;
  throw new Error('not yet on PostgreSQL: media');
}
