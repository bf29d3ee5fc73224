import { randomUUID } from 'node:crypto';
import type { Database } from '../db.js';
import type { Workspace, WorkspaceRepo } from '../types.js';

export interface WorkspaceRow {
  id: string;
  name: string;
  approval_policy: string;
  created_at: string;
}

export const toWorkspace = (row: WorkspaceRow): Workspace => ({
  id: row.id,
  name: row.name,
  approvalPolicy: row.approval_policy,
  createdAt: row.created_at,
});

export function createWorkspaceRepo(db: Database): WorkspaceRepo {
  const byName = db.prepare<[string], WorkspaceRow>('SELECT * FROM workspaces WHERE name = ?');
  const insert = db.prepare('INSERT OR IGNORE INTO workspaces (id, name, created_at) VALUES (?, ?, ?)');
  const byId = db.prepare<[string], WorkspaceRow>('SELECT * FROM workspaces WHERE id = ?');
  const all = db.prepare<[], WorkspaceRow>('SELECT * FROM workspaces ORDER BY name');
  const setPolicy = db.prepare('UPDATE workspaces SET approval_policy = ? WHERE id = ?');
  return {
    async findById(id) {
      const row = byId.get(id);
      return row ? toWorkspace(row) : undefined;
    },
    async list() {
      return all.all().map(toWorkspace);
    },
    async setApprovalPolicy(id, policy) {
      setPolicy.run(policy, id);
    },
    async ensure(name, now) {
      insert.run(`ws_${randomUUID()}`, name, now);
      return toWorkspace(byName.get(name)!);
    },
    async findByName(name) {
      const row = byName.get(name);
      return row ? toWorkspace(row) : undefined;
    },
  };
}
