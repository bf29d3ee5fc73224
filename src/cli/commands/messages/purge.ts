import { join } from 'node:path';
import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { UsageError } from '../../../errors.js';
import { parseAge, purgeMessages } from '../../../services/maintenance/retention.js';
import type { purge } from './index.js';

export async function run(ctx: Context, options: Options<typeof purge>): Promise<void> {
  if (options.olderThan === undefined) throw new UsageError('Say how old: --older-than 90d (or 12w, 36h, 30m).');
  const olderThanMs = parseAge(options.olderThan, '--older-than');
  const store = await ctx.store();
  const workspace = await ctx.workspace();
  const report = await purgeMessages(
    { store, now: () => ctx.now() },
    { olderThanMs, workspaceId: workspace.id, dryRun: options.dryRun, mediaDir: join(ctx.paths.dataDir, 'media') },
  );
  ctx.out.result({ workspace: workspace.name, ...report }, () => {
    const verb = report.dryRun ? 'Would delete' : 'Deleted';
    const lines = [
      `${verb} what is older than ${ctx.time.at(report.cutoff)} in workspace ${workspace.name}:`,
      `  ${report.inbound} inbound messages, ${report.outbound} sent messages, ${report.statuses} statuses, ` +
        `${report.webhookErrors} webhook errors, ${report.webhookEvents} other webhook events, ${report.media} media records (${report.files} files), ` +
        `${report.contacts} contacts.`,
    ];
    if (report.keptUndelivered > 0) {
      lines.push(`Kept ${report.keptUndelivered} older inbound messages not yet handed to your code (see \`lumen events list --failed\`).`);
    }
    if (report.dryRun) lines.push('Nothing was deleted (--dry-run).');
    return lines;
  });
}
