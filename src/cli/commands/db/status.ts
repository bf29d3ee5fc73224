import type { Context } from '../../context.js';
import type { DatabaseStatus } from '../../../services/db.js';

export async function run(ctx: Context): Promise<void> {
  const { databaseStatus } = await import('../../../services/db.js');
  const status = await databaseStatus({ databasePath: ctx.paths.database, databaseUrl: ctx.databaseUrl() });
  ctx.out.result(status, () => describeStatus(status));
}

export function describeStatus(status: DatabaseStatus): string[] {
  const lines = [
    `Backend   ${status.backend === 'postgres' ? 'PostgreSQL' : 'SQLite'}`,
    `Where     ${status.where}`,
    `Schema    ${status.version} (this lumen knows ${status.latest})`,
  ];
  if (status.pending.length === 0) lines.push('Pending   none');
  else {
    lines.push(`Pending   ${status.pending.map((m) => `${String(m.version).padStart(3, '0')}_${m.name}`).join(', ')}`);
    lines.push('', 'Run `lumen db migrate` to apply them (any other command also does).');
  }
  return lines;
}
