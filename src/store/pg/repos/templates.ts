import type { PgDatabase } from '../db.js';
import type { TemplateRepo } from '../../types.js';

export function createTemplateRepo(db: PgDatabase): TemplateRepo {
  void db;
  throw new Error('not yet on PostgreSQL: templates');
}
