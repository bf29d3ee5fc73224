import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';
import { createFileSecretStore } from './file.js';
import { createKeychainSecretStore, probeKeychain } from './keychain.js';
import { createMemorySecretStore } from './memory.js';
import type { SecretBackendKind, SecretStore } from './types.js';

export type { SecretBackendKind, SecretStore } from './types.js';
export { createFileSecretStore } from './file.js';
export type { FileSecretStoreOptions } from './file.js';
export { createKeychainSecretStore, probeKeychain, DEFAULT_KEYCHAIN_SERVICE } from './keychain.js';
export type { KeychainOptions, KeychainProbe, ProbeKeychainOptions } from './keychain.js';
export { createMemorySecretStore } from './memory.js';

export interface OpenSecretStoreOptions {
  env: NodeJS.ProcessEnv;
  /** The encrypted secrets file (inside LUMEN_HOME). */
  secretsFile: string;
  /** The random key for that file when LUMEN_MASTER_KEY is not set. */
  keyFile: string;
  /** Prints one line to stderr (never stdout: `--json` owns it). */
  warn: (line: string) => void;
  /** The backend an integration recorded for its secrets: wins over the environment, no probe. */
  kind?: SecretBackendKind | undefined;
  /** The PostgreSQL URL the state lives at (LUMEN_DATABASE_URL, else config `databaseUrl`): the database store's home. */
  databaseUrl?: string | undefined;
}

export type SecretName = 'access_token' | 'app_secret';

/** The store key of one integration's secret, e.g. `integration/<ref>/access_token`. */
// `string & {}` keeps editor completion for the known names while allowing others.
export function secretKey(ref: string, name: SecretName | (string & {})): string {
  return `integration/${ref}/${name}`;
}

/**
 * Chooses the backend: an explicit `kind`, else LUMEN_SECRET_STORE, else the OS keychain when a
 * real round trip succeeds, else the encrypted file with a one-line warning. `database` (PostgreSQL only) is never
 * chosen unasked: it needs LUMEN_MASTER_KEY on every host.
 */
export async function openSecretStore(opts: OpenSecretStoreOptions): Promise<SecretStore> {
  const fileStore = (): SecretStore =>
    createFileSecretStore({ filePath: opts.secretsFile, keyFilePath: opts.keyFile, masterKey: opts.env.LUMEN_MASTER_KEY });

  // Checked even when the integration names its store: a misspelt setting is said, not silently ignored.
  const setting = parseBackendSetting(opts.env.LUMEN_SECRET_STORE);
  const kind = opts.kind ?? setting;
  if (kind === 'memory') return createMemorySecretStore();
  if (kind === 'file') return fileStore();
  if (kind === 'database') {
    const { openDatabaseSecretStore } = await import('./database.js');
    return openDatabaseSecretStore({ url: opts.databaseUrl, masterKey: opts.env.LUMEN_MASTER_KEY });
  }
  // A recorded keychain is used without a probe: its secrets are there, and errors surface on use.
  if (kind === 'keychain' && opts.kind === 'keychain') return createKeychainSecretStore();

  const probe = await probeKeychain();
  if (probe.ok) return createKeychainSecretStore();
  if (kind === 'keychain') {
    throw new UserError(`LUMEN_SECRET_STORE=keychain, but the OS keychain is unavailable: ${probe.reason}.`, {
      code: 'keychain_unavailable',
      hint: 'Start or unlock your keychain, or set LUMEN_SECRET_STORE=file to use the encrypted file store.',
    });
  }
  // Said once per LUMEN_HOME (a marker next to the secrets file), not on every command.
  const marker = join(dirname(opts.secretsFile), '.keychain-warning-shown');
  if (!existsSync(marker)) {
    opts.warn(
      `OS keychain unavailable (${probe.reason}); secrets go to the encrypted file ${opts.secretsFile}. ` +
        'Set LUMEN_SECRET_STORE=file to silence this.',
    );
    try {
      mkdirSync(dirname(marker), { recursive: true, mode: 0o700 });
      writeFileSync(marker, `${probe.reason}\n`, { mode: 0o600 });
    } catch {
      // A home that cannot be written gets the warning again next time; the command's own writes will say why.
    }
  }
  return fileStore();
}

export function parseBackendSetting(value: string | undefined): 'keychain' | 'file' | 'database' | undefined {
  const setting = value?.trim().toLowerCase();
  if (!setting) return undefined;
  if (setting === 'keychain' || setting === 'file' || setting === 'database') return setting;
  throw new UserError(`LUMEN_SECRET_STORE must be "keychain", "file" or "database", not "${value}".`, {
    code: 'usage',
    hint: 'Unset it to use the OS keychain when available and the encrypted file otherwise; "database" shares them through PostgreSQL.',
    kind: 'usage',
  });
}
