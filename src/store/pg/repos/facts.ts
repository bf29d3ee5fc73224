import type { PgDatabase } from '../db.js';
import type { FactsRepo } from '../../repos/facts.js';

export function createFactsRepo(db: PgDatabase): FactsRepo {
  void db;
  throw new Error('not yet on PostgreSQL: facts');
}
