/**
 * `lumen relay install-service`: the relay as a service of the user's own service manager, a systemd user unit on
 * Linux or a launchd agent on macOS. The file names the node binary, lumen's own entry point and the relay's flags,
 * and the environment lumen needs to find its home; never a secret (Meta's token, the app secret, the secrets
 * file's passphrase): the relay reads those from the keychain or the encrypted file as it always does.
 */
import { join } from 'node:path';
import { UsageError } from '../../errors.js';

export type ServicePlatform = 'systemd' | 'launchd';

export const SYSTEMD_UNIT = 'lumen-relay.service';
export const LAUNCHD_LABEL = 'lumen.relay';

/** Variables carried into the service when set: where lumen's state is and how it reaches Meta. Nothing secret. */
const CARRIED = ['LUMEN_HOME', 'XDG_DATA_HOME', 'XDG_CONFIG_HOME', 'LUMEN_SECRET_STORE', 'LUMEN_GRAPH_URL', 'LUMEN_GRAPH_VERSION', 'PATH'] as const;
/** Never written into a service file, whatever else changes here. */
export const NEVER_CARRIED = ['WHATSAPP_ACCESS_TOKEN', 'WHATSAPP_APP_SECRET', 'LUMEN_MASTER_KEY'] as const;

export function servicePlatform(value: string | undefined, platform: NodeJS.Platform): ServicePlatform {
  if (value === undefined) {
    if (platform === 'linux') return 'systemd';
    if (platform === 'darwin') return 'launchd';
    throw new UsageError(`Services are written for Linux (systemd) and macOS (launchd), not ${platform}.`, 'Run `lumen relay start` under your own service manager.');
  }
  if (value === 'systemd' || value === 'launchd') return value;
  throw new UsageError(`--platform must be systemd or launchd; got "${value}".`);
}

export interface ServiceSpec {
  platform: ServicePlatform;
  /** The node binary and lumen's entry point (absolute). */
  node: string;
  entry: string;
  /** What follows `lumen relay start`. */
  args: string[];
  workingDirectory: string;
  env: NodeJS.ProcessEnv;
  /** The user's home (for the file's place and launchd's log). */
  home: string;
  /** The --log-file given, if any (launchd then needs no log of its own). */
  logFile?: string | undefined;
}

export interface ServiceFile {
  platform: ServicePlatform;
  path: string;
  text: string;
  /** Commands that start it, and that read its logs. */
  start: string[];
  logs: string;
  stop: string;
  /** Where systemd reads optional extra variables from (LUMEN_MASTER_KEY, say), which the user writes. */
  environmentFile?: string;
}

export function serviceFilePath(platform: ServicePlatform, env: NodeJS.ProcessEnv, home: string): string {
  return platform === 'systemd'
    ? join(env.XDG_CONFIG_HOME?.trim() || join(home, '.config'), 'systemd', 'user', SYSTEMD_UNIT)
    : join(home, 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`);
}

function carried(env: NodeJS.ProcessEnv): Array<[string, string]> {
  return CARRIED.flatMap((name) => {
    const value = env[name]?.trim();
    return value ? [[name, value] as [string, string]] : [];
  });
}

/**
 * One ExecStart word: systemd splits on spaces, expands `%` specifiers and `$` variables. An Environment= assignment
 * is quoted the same way, but systemd expands no `$` in it (`variables: false`).
 */
function systemdWord(value: string, { variables = true }: { variables?: boolean } = {}): string {
  const specifiers = value.replace(/%/g, '%%');
  const escaped = variables ? specifiers.replace(/\$/g, '$$$$') : specifiers;
  if (/^[\w@%+=:,./-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * A path setting (WorkingDirectory=, EnvironmentFile=): systemd takes the rest of the line as the path, unquoted, and
 * expands `%` specifiers; a line break cannot be written at all.
 */
function systemdPath(value: string): string {
  if (/[\r\n]/.test(value)) throw new UsageError(`A systemd unit cannot name a path with a line break in it: ${JSON.stringify(value)}.`);
  // A backslash at the end would join the next line to it; spaces at either end are trimmed away.
  if (/\\$/.test(value) || value.trim() !== value) {
    throw new UsageError(`A systemd unit cannot name a path that ends in a backslash or has spaces at its ends: ${JSON.stringify(value)}.`);
  }
  return value.replace(/%/g, '%%');
}

function xml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function buildServiceFile(spec: ServiceSpec): ServiceFile {
  const path = serviceFilePath(spec.platform, spec.env, spec.home);
  const argv = [spec.node, spec.entry, 'relay', 'start', ...spec.args];
  const variables = carried(spec.env);
  if (spec.platform === 'systemd') {
    const environmentFile = join(spec.env.XDG_CONFIG_HOME?.trim() || join(spec.home, '.config'), 'lumen', 'relay.env');
    const text = [
      '# Written by `lumen relay install-service`; `lumen relay uninstall-service` removes it.',
      '[Unit]',
      'Description=lumen WhatsApp webhook relay',
      '',
      '[Service]',
      'Type=simple',
      `ExecStart=${argv.map((word) => systemdWord(word)).join(' ')}`,
      `WorkingDirectory=${systemdPath(spec.workingDirectory)}`,
      ...variables.map(([name, value]) => `Environment=${systemdWord(`${name}=${value}`, { variables: false })}`),
      '# Optional variables you keep yourself (mode 0600), e.g. LUMEN_MASTER_KEY for the encrypted secrets file.',
      `EnvironmentFile=-${systemdPath(environmentFile)}`,
      // SIGTERM: the relay stops accepting, finishes what is in flight and closes the database.
      'KillSignal=SIGTERM',
      'TimeoutStopSec=90',
      'Restart=on-failure',
      'RestartSec=5',
      '',
      '[Install]',
      'WantedBy=default.target',
      '',
    ].join('\n');
    return {
      platform: 'systemd',
      path,
      text,
      start: ['systemctl --user daemon-reload', 'systemctl --user enable --now lumen-relay'],
      logs: spec.logFile ? `tail -f ${spec.logFile}` : 'journalctl --user -u lumen-relay -f',
      stop: 'systemctl --user disable --now lumen-relay',
      environmentFile,
    };
  }
  const log = spec.logFile ?? join(spec.home, 'Library', 'Logs', 'lumen-relay.log');
  const strings = (values: string[]) => values.map((v) => `    <string>${xml(v)}</string>`);
  const text = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<!-- Written by `lumen relay install-service`; `lumen relay uninstall-service` removes it. -->',
    '<plist version="1.0">',
    '<dict>',
    '  <key>Label</key>',
    `  <string>${LAUNCHD_LABEL}</string>`,
    '  <key>ProgramArguments</key>',
    '  <array>',
    ...strings(argv),
    '  </array>',
    '  <key>WorkingDirectory</key>',
    `  <string>${xml(spec.workingDirectory)}</string>`,
    '  <key>EnvironmentVariables</key>',
    '  <dict>',
    ...variables.flatMap(([name, value]) => [`    <key>${xml(name)}</key>`, `    <string>${xml(value)}</string>`]),
    '  </dict>',
    '  <key>RunAtLoad</key>',
    '  <true/>',
    '  <key>KeepAlive</key>',
    '  <dict>',
    '    <key>SuccessfulExit</key>',
    '    <false/>',
    '  </dict>',
    '  <key>ExitTimeOut</key>',
    '  <integer>90</integer>',
    ...(spec.logFile
      ? []
      : ['  <key>StandardOutPath</key>', `  <string>${xml(log)}</string>`, '  <key>StandardErrorPath</key>', `  <string>${xml(log)}</string>`]),
    '</dict>',
    '</plist>',
    '',
  ].join('\n');
  return {
    platform: 'launchd',
    path,
    text,
    start: [`launchctl bootstrap gui/$(id -u) ${path}`],
    logs: `tail -f ${log}`,
    stop: `launchctl bootout gui/$(id -u)/${LAUNCHD_LABEL}`,
  };
}
