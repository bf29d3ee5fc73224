import { existsSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { buildServiceFile, servicePlatform, SYSTEMD_UNIT } from '../../../services/relay/service-file.js';
import type { uninstallService } from './index.js';

export async function run(ctx: Context, options: Options<typeof uninstallService>): Promise<void> {
  const platform = servicePlatform(options.platform, process.platform);
  const home = ctx.env.HOME?.trim() || homedir();
  const file = buildServiceFile({ platform, node: process.execPath, entry: '', args: [], workingDirectory: home, env: ctx.env, home });
  if (!existsSync(file.path)) {
    ctx.out.result({ removed: false, path: file.path }, () => `No relay service is installed (${file.path} does not exist).`);
    return;
  }
  rmSync(file.path, { force: true });
  // What `systemctl --user disable` removes: the link that starts it at login (it needs the unit file to do so).
  if (platform === 'systemd') rmSync(join(dirname(file.path), 'default.target.wants', SYSTEMD_UNIT), { force: true });
  const after = platform === 'systemd' ? ['systemctl --user stop lumen-relay', 'systemctl --user daemon-reload'] : [file.stop];
  ctx.out.result({ removed: true, path: file.path, then: after }, () => [
    `Removed ${file.path}${platform === 'systemd' ? ' (it no longer starts at login)' : ''}.`,
    'If it is still running, stop it:',
    ...after.map((command) => `  ${command}`),
  ]);
}
