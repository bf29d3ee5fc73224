import type { PgDatabase } from '../db.js';
import type { WorkspaceRepo } from '../../types.js';

export function createWorkspaceRepo(db: PgDatabase): WorkspaceRepo {
  void db;
  throw new Error('not yet on PostgreSQL: workspaces');
}
