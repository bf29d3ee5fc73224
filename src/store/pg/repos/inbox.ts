import type { PgDatabase } from '../db.js';
import type { InboxRepo } from '../../types.js';

export function createInboxRepo(db: PgDatabase): InboxRepo {
  void db;
  throw new Error('not yet on PostgreSQL: inbox');
}
