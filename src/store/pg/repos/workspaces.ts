import { randomUUID } from 'node:crypto';
import type { PgDatabase } from '../db.js';
import { toWorkspace, type WorkspaceRow } from '../../repos/workspaces.js';
import type { WorkspaceRepo } from '../../types.js';

export function createWorkspaceRepo(db: PgDatabase): WorkspaceRepo {
  const byName = (name: string) => db.get<WorkspaceRow>('SELECT * FROM workspaces WHERE name = $1', [name]);
  return {
    async findById(id) {
      const row = await db.get<WorkspaceRow>('SELECT * FROM workspaces WHERE id = $1', [id]);
      return row ? toWorkspace(row) : undefined;
    },
    async list() {
      return (await db.all<WorkspaceRow>('SELECT * FROM workspaces ORDER BY name COLLATE "C"')).map(toWorkspace);
    },
    async setApprovalPolicy(id, policy) {
      await db.run('UPDATE workspaces SET approval_policy = $1 WHERE id = $2', [policy, id]);
    },
    async ensure(name, now) {
      // Two hosts naming a new workspace at once: the UNIQUE name keeps one row, and both read it.
      await db.run('INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [`ws_${randomUUID()}`, name, now]);
      return toWorkspace((await byName(name))!);
    },
    async findByName(name) {
      const row = await byName(name);
      return row ? toWorkspace(row) : undefined;
    },
  };
}
