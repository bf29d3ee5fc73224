import type { PgDatabase } from '../db.js';
import type { MaintenanceRepo } from '../../types.js';

export function createMaintenanceRepo(db: PgDatabase): MaintenanceRepo {
  void db;
  throw new Error('not yet on PostgreSQL: maintenance');
}
