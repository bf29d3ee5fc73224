import type { PgDatabase } from '../db.js';
import type { ConsoleRepo } from '../../types.js';

export function createConsoleRepo(db: PgDatabase): ConsoleRepo {
  void db;
  throw new Error('not yet on PostgreSQL: console');
}
