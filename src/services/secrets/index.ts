/**
 * `lumen secrets status` and `lumen secrets rotate-key`: which store holds the secrets and under which key, and the
 * move of the database store's secrets from one LUMEN_MASTER_KEY to the next. Nothing here returns a secret.
 */
import { UserError } from '../../errors.js';
import { parseBackendSetting } from '../../secrets/index.js';
import type { SecretStore } from '../../secrets/types.js';

export interface SecretsInput {
  env: NodeJS.ProcessEnv;
  /** LUMEN_DATABASE_URL, else config `databaseUrl`; undefined on SQLite. */
  databaseUrl: string | undefined;
}

export interface SecretsStatus {
  /** keychain | file | database (what LUMEN_SECRET_STORE chose, or what the probe found). */
  backend: string;
  description: string;
  /** The database store's: the current key's id, and how many secrets each key id holds. */
  keyId: string | null;
  keys: Array<{ keyId: string; secrets: number; current: boolean }> | null;
}

export async function secretsStatus(input: SecretsInput & { openDefault(): Promise<SecretStore> }): Promise<SecretsStatus> {
  if (parseBackendSetting(input.env.LUMEN_SECRET_STORE) !== 'database') {
    const store = await input.openDefault();
    return { backend: store.kind, description: store.description, keyId: null, keys: null };
  }
  const { countSecretsByKey, deriveMasterKey, requireDatabaseSettings } = await import('../../secrets/database.js');
  const { openPgDatabase } = await import('../../store/pg/db.js');
  const { url, masterKey } = requireDatabaseSettings({ url: input.databaseUrl, masterKey: input.env.LUMEN_MASTER_KEY });
  const current = await deriveMasterKey(masterKey);
  // A look only: no migration (a database not migrated yet holds no secrets).
  const db = await openPgDatabase(url, { max: 1, migrate: false });
  try {
    const table = await db.get<{ t: string | null }>("SELECT to_regclass('secrets')::text AS t");
    const counts = table?.t ? await countSecretsByKey(db, current.id) : [];
    return {
      backend: 'database',
      description: `the database ${db.where} (encrypted, key id ${current.id})`,
      keyId: current.id,
      keys: counts.map((c) => ({ ...c, current: c.keyId === current.id })),
    };
  } finally {
    await db.close();
  }
}

export interface RotateKeyInput extends SecretsInput {
  /** The variable holding the previous passphrase (LUMEN_PREVIOUS_MASTER_KEY unless --previous-key-env names another). */
  previousKeyEnv: string;
  /** The encrypted secrets file and its key file (LUMEN_HOME/secrets.enc.json, secrets.key). */
  secretsFile: string;
  keyFile: string;
}

export type RotateKeyResult =
  | { database: string; keyId: string; previousKeyId: string | null; rotated: number; unchanged: number }
  /** `from` is null when every secret was under LUMEN_MASTER_KEY already (nothing written). */
  | { file: string; from: 'key file' | 'passphrase' | null; rotated: number; unchanged: number };

export async function rotateMasterKey(input: RotateKeyInput): Promise<RotateKeyResult> {
  if (parseBackendSetting(input.env.LUMEN_SECRET_STORE) !== 'database') return rotateFileKey(input);
  const { deriveMasterKey, requireDatabaseSettings, rotateSecrets, samePassphrase } = await import('../../secrets/database.js');
  const { openPgDatabase } = await import('../../store/pg/db.js');
  const { url, masterKey } = requireDatabaseSettings({ url: input.databaseUrl, masterKey: input.env.LUMEN_MASTER_KEY });
  const previousPassphrase = input.env[input.previousKeyEnv] || undefined;
  if (previousPassphrase === masterKey) throw samePassphrase(input.previousKeyEnv);
  const current = await deriveMasterKey(masterKey);
  const previous = previousPassphrase ? await deriveMasterKey(previousPassphrase) : undefined;
  const db = await openPgDatabase(url, { max: 1 });
  try {
    return { database: db.where, ...(await rotateSecrets(db, current, previous, input.previousKeyEnv)) };
  } finally {
    await db.close();
  }
}

/**
 * The encrypted file, from the previous passphrase (or, without one, its key file) to LUMEN_MASTER_KEY: every secret
 * re-encrypted in one atomic write. The keychain has no key of lumen's to change.
 */
async function rotateFileKey(input: RotateKeyInput): Promise<RotateKeyResult> {
  const { existsSync } = await import('node:fs');
  if (!existsSync(input.secretsFile)) {
    throw new UserError(`There is no encrypted secrets file (${input.secretsFile}) to re-key.`, {
      code: 'secrets_no_file',
      kind: 'usage',
      hint: 'The keychain needs no key. With LUMEN_SECRET_STORE=database, rotate-key re-encrypts the secrets kept in PostgreSQL.',
    });
  }
  const masterKey = input.env.LUMEN_MASTER_KEY || undefined;
  if (!masterKey) {
    throw new UserError('Set LUMEN_MASTER_KEY to the new passphrase: rotate-key re-encrypts the secrets file under it.', {
      code: 'master_key_missing',
      kind: 'usage',
      hint: `The previous passphrase goes in ${input.previousKeyEnv}; without it the file is read with its key file.`,
    });
  }
  const previous = input.env[input.previousKeyEnv] || undefined;
  if (previous === masterKey) {
    throw new UserError(`${input.previousKeyEnv} and LUMEN_MASTER_KEY are the same passphrase: there is nothing to change.`, {
      code: 'same_master_key',
      kind: 'usage',
    });
  }
  const { createFileSecretStore } = await import('../../secrets/file.js');
  const store = createFileSecretStore({ filePath: input.secretsFile, keyFilePath: input.keyFile, masterKey: previous });
  let counts: { rotated: number; unchanged: number };
  try {
    counts = await store.rekey(masterKey);
  } catch (error) {
    // The store's own hints speak of LUMEN_MASTER_KEY, which here holds the new passphrase.
    if (!(error instanceof UserError) || error.code !== 'secrets_unreadable') throw error;
    if (previous && /written with the key file/.test(error.message)) {
      throw new UserError(`The secrets in ${input.secretsFile} were written with the key file ${input.keyFile}, not a passphrase.`, {
        code: 'secrets_unreadable',
        hint: `Unset ${input.previousKeyEnv}: rotate-key then reads them with the key file. Nothing was changed.`,
      });
    }
    if (previous) {
      throw new UserError(`${input.previousKeyEnv} does not open the secrets in ${input.secretsFile}: it is not the passphrase they were written with.`, {
        code: 'secrets_unreadable',
        hint: `Set ${input.previousKeyEnv} to the passphrase in use until now. Nothing was changed.`,
      });
    }
    throw new UserError(error.message, {
      code: 'secrets_unreadable',
      hint: `If they were written with a passphrase, put it in ${input.previousKeyEnv} (LUMEN_MASTER_KEY is the new one). Nothing was changed.`,
    });
  }
  const from = counts.rotated === 0 && counts.unchanged > 0 ? null : previous ? 'passphrase' : 'key file';
  return { file: input.secretsFile, from, ...counts };
}
