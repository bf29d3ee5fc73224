import type { PgDatabase } from '../db.js';
import type { DispatchRepo } from '../../types.js';

export function createDispatchRepo(db: PgDatabase): DispatchRepo {
  void db;
  throw new Error('not yet on PostgreSQL: dispatch');
}
