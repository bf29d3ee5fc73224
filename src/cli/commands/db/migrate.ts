import type { Context } from '../../context.js';
import { describeStatus } from './status.js';

export async function run(ctx: Context): Promise<void> {
  const { migrateDatabase } = await import('../../../services/db.js');
  const report = await migrateDatabase({ databasePath: ctx.paths.database, databaseUrl: ctx.databaseUrl() });
  ctx.out.result(report, () => [
    report.applied.length === 0
      ? 'The schema is current: nothing to apply.'
      : `Applied ${report.applied.map((m) => `${String(m.version).padStart(3, '0')}_${m.name}`).join(', ')}.`,
    '',
    ...describeStatus(report),
  ]);
}
