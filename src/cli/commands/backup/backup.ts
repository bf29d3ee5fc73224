import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Context } from '../../context.js';
import { UsageError, UserError } from '../../../errors.js';
import { describeSystemFault } from '../../../store/faults.js';

export async function run(ctx: Context, _options: Record<string, never>, file: string): Promise<void> {
  if (file.trim() === '') throw new UsageError('Name the backup file, e.g. `lumen backup lumen-2026-12-03.db`.');
  const destination = resolve(file);
  if (existsSync(destination)) {
    if (statSync(destination).isDirectory()) {
      throw new UsageError(`${file} is a folder: name the backup file, e.g. ${join(file, 'lumen-backup.db')}.`);
    }
    throw new UsageError(`${file} exists already; a backup never overwrites a file.`, 'Name a new file, or move the old one away.');
  }
  if (!existsSync(dirname(destination)) || !statSync(dirname(destination)).isDirectory()) {
    throw new UsageError(`The folder ${dirname(destination)} does not exist.`);
  }
  if (destination === resolve(ctx.paths.database)) throw new UsageError('The backup cannot be the database itself.');
  const store = await ctx.store();
  let pages: number;
  try {
    ({ pages } = await store.maintenance.backup(destination));
  } catch (error) {
    if (error instanceof UserError) throw error; // e.g. backup_unsupported: a PostgreSQL home is backed up by its server
    const fault = describeSystemFault(error);
    throw new UserError(`The backup to ${file} failed: ${fault?.message ?? (error as Error).message}`, {
      code: fault?.code ?? 'backup_failed',
      ...(fault?.hint ? { hint: fault.hint } : {}),
      kind: 'unavailable',
      cause: error,
    });
  }
  const bytes = statSync(destination).size;
  ctx.out.result({ path: destination, bytes, pages }, () => `Backed up ${ctx.paths.database} to ${destination} (${bytes} bytes).`);
}
