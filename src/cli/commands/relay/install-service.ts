import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context } from '../../context.js';
import type { Flags, Options } from '../../declare.js';
import { UserError } from '../../../errors.js';
import { parsePort } from '../../flag-values.js';
import { buildServiceFile, servicePlatform } from '../../../services/relay/service-file.js';
import { start, type installService } from './index.js';

/** lumen's own entry point, from this module's place in dist/. */
const ENTRY = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'bin', 'lumen.js');

export async function run(ctx: Context, options: Options<typeof installService>): Promise<void> {
  const platform = servicePlatform(options.platform, process.platform);
  parsePort(options.port);
  const home = ctx.env.HOME?.trim() || homedir();
  // Relative paths mean what they mean here, not in the service manager's working directory.
  const given: Record<string, unknown> = { ...options, ...(options.logFile ? { logFile: resolve(options.logFile) } : {}) };
  const env = { ...ctx.env, ...(ctx.env.LUMEN_HOME?.trim() ? { LUMEN_HOME: resolve(ctx.env.LUMEN_HOME.trim()) } : {}) };
  const file = buildServiceFile({
    platform,
    node: process.execPath,
    entry: ENTRY,
    args: relayArgs(start.flags, given),
    workingDirectory: process.cwd(),
    env,
    home,
    logFile: given.logFile as string | undefined,
  });
  if (existsSync(file.path) && !options.force) {
    throw new UserError(`A service file exists already: ${file.path}.`, {
      code: 'service_exists',
      hint: 'Pass --force to replace it (then restart the service), or `lumen relay uninstall-service` first.',
      kind: 'conflict',
    });
  }
  mkdirSync(dirname(file.path), { recursive: true });
  writeFileSync(file.path, file.text, { mode: 0o644 });
  const data = { platform: file.platform, path: file.path, start: file.start, logs: file.logs, stop: file.stop, ...(file.environmentFile ? { environmentFile: file.environmentFile } : {}) };
  ctx.out.result(data, () => [
    `Wrote ${file.path} (${file.platform === 'systemd' ? 'a systemd user unit' : 'a launchd agent'}).`,
    'Start it now and at every login:',
    ...file.start.map((command) => `  ${command}`),
    ...(file.platform === 'systemd' ? ['  loginctl enable-linger "$USER"      # keep it running while you are logged out'] : []),
    `Its logs: ${file.logs}`,
    `Stop it: ${file.stop}`,
    ...(file.environmentFile
      ? [`No secret is in the unit. Variables it needs that are secret (LUMEN_MASTER_KEY) go in ${file.environmentFile} (chmod 600).`]
      : ['No secret is in the agent: the relay reads them from the keychain or the encrypted secrets file.']),
  ]);
}

/** The `relay start` flags the user gave, as words: defaults are left out, so the service follows lumen's. */
export function relayArgs(flags: Flags, values: Record<string, unknown>): string[] {
  const words: string[] = [];
  for (const [key, flag] of Object.entries(flags)) {
    const value = values[key];
    switch (flag.kind) {
      case 'boolean':
        if (value === true) words.push(flag.name);
        break;
      case 'negatable':
        if (value === false) words.push(flag.name);
        break;
      case 'optional-value':
        if (value === true) words.push(flag.name);
        else if (typeof value === 'string') words.push(flag.name, value);
        break;
      case 'variadic':
      case 'repeatable':
        if (Array.isArray(value) && value.length > 0) words.push(flag.name, ...(value as string[]));
        break;
      default:
        if (typeof value === 'string' && value !== flag.default) words.push(flag.name, value);
    }
  }
  return words;
}
