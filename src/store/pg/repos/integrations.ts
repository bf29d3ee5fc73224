import type { PgDatabase } from '../db.js';
import type { IntegrationRepo } from '../../types.js';

export function createIntegrationRepo(db: PgDatabase): IntegrationRepo {
  void db;
  throw new Error('not yet on PostgreSQL: integrations');
}
