/**
 * LUMEN_SECRET_STORE=database: secrets in the PostgreSQL database every relay and CLI shares, so that a command on
 * one host finds what `lumen whatsapp connect` stored on another. Each value is encrypted with AES-256-GCM under a key
 * derived from LUMEN_MASTER_KEY (scrypt with a fixed salt naming lumen: every host with the same passphrase derives
 * the same key, and nothing about the key is kept in the database but its id, a fingerprint). A row names the key id
 * that wrote it; `lumen secrets rotate-key` re-encrypts the rows of the previous key under the current one.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, scrypt } from 'node:crypto';
import { UsageError, UserError } from '../errors.js';
import { openPgDatabase, type PgDatabase, type PgQueryable } from '../store/pg/db.js';
import type { SecretStore } from './types.js';

/** The key a database store encrypts with, and its public fingerprint. */
export interface MasterKey {
  key: Buffer;
  /** 12 hex digits of an HMAC under the key: tells keys apart, reveals nothing of them. */
  id: string;
}

export interface DatabaseSecretStore extends SecretStore {
  readonly kind: 'database';
  /** The id of the key this store writes with. */
  readonly keyId: string;
  close(): Promise<void>;
}

export interface DatabaseSecretStoreOptions {
  /** The postgres:// URL (LUMEN_DATABASE_URL or config `databaseUrl`); undefined when lumen uses SQLite here. */
  url: string | undefined;
  /** LUMEN_MASTER_KEY. */
  masterKey: string | undefined;
}

interface SecretRow {
  key: string;
  key_id: string;
  nonce: Buffer;
  ciphertext: Buffer;
  auth_tag: Buffer;
}

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Fixed, and naming lumen: the passphrase alone makes the key, on every host. */
const KDF_SALT = 'lumen/secrets/database/v1';
/** As the file store: ≈50 ms once per process, enough to slow guessing of a passphrase. */
const SCRYPT_COST = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
/** Connections of the store's own pool: secrets are read seldom, and never many at once. */
const POOL_SIZE = 2;

export const PREVIOUS_MASTER_KEY_ENV = 'LUMEN_PREVIOUS_MASTER_KEY';

/** Derives the store's key from a passphrase (LUMEN_MASTER_KEY); the same passphrase gives the same key anywhere. */
export async function deriveMasterKey(passphrase: string): Promise<MasterKey> {
  const key = await new Promise<Buffer>((resolve, reject) => {
    scrypt(passphrase, KDF_SALT, KEY_BYTES, SCRYPT_COST, (err, derived) => (err ? reject(err) : resolve(derived)));
  });
  return { key, id: createHmac('sha256', key).update('lumen key id').digest('hex').slice(0, 12) };
}

/** The checks both the store and `lumen secrets …` make before touching the database. */
export function requireDatabaseSettings(options: DatabaseSecretStoreOptions): { url: string; masterKey: string } {
  if (!options.url) {
    throw new UserError('LUMEN_SECRET_STORE=database keeps secrets in the PostgreSQL database, but lumen uses SQLite here.', {
      code: 'secrets_database_unavailable',
      kind: 'usage',
      hint: 'Set LUMEN_DATABASE_URL (or `databaseUrl` in config.json) to the shared database, or use LUMEN_SECRET_STORE=keychain or file on one machine.',
    });
  }
  if (!options.masterKey) {
    throw new UserError('LUMEN_SECRET_STORE=database needs LUMEN_MASTER_KEY: the passphrase its secrets are encrypted with.', {
      code: 'master_key_missing',
      kind: 'usage',
      hint: 'Set LUMEN_MASTER_KEY to the same passphrase on every host that shares the database (a long random one: openssl rand -base64 32).',
    });
  }
  return { url: options.url, masterKey: options.masterKey };
}

export async function openDatabaseSecretStore(options: DatabaseSecretStoreOptions): Promise<DatabaseSecretStore> {
  const { url, masterKey } = requireDatabaseSettings(options);
  const current = await deriveMasterKey(masterKey);
  const db = await openPgDatabase(url, { max: POOL_SIZE });
  return databaseSecretStore(db, current);
}

/** A store over an open database (closing the store closes it). */
export function databaseSecretStore(db: PgDatabase, current: MasterKey): DatabaseSecretStore {
  return {
    kind: 'database',
    description: `the database ${db.where} (encrypted, key id ${current.id})`,
    keyId: current.id,

    async get(name) {
      const row = await db.get<SecretRow>('SELECT key, key_id, nonce, ciphertext, auth_tag FROM secrets WHERE key = $1', [name]);
      if (!row) return undefined;
      if (row.key_id !== current.id) throw otherKey(row.key_id, current.id);
      return decrypt(current, row);
    },

    async set(name, value) {
      const sealed = encrypt(current, name, value);
      // Never two keys in one table but during a rotation: a host with another LUMEN_MASTER_KEY must not add rows
      // that no one else can read. The check and the write are one statement.
      const written = await db.run(
        `INSERT INTO secrets (key, key_id, nonce, ciphertext, auth_tag, updated_at)
           SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM secrets WHERE key_id <> $2)
         ON CONFLICT (key) DO UPDATE SET key_id = excluded.key_id, nonce = excluded.nonce,
           ciphertext = excluded.ciphertext, auth_tag = excluded.auth_tag, updated_at = excluded.updated_at`,
        [name, current.id, sealed.nonce, sealed.ciphertext, sealed.tag, new Date().toISOString()],
      );
      if (written === 0) {
        const other = await db.get<{ key_id: string }>('SELECT key_id FROM secrets WHERE key_id <> $1 LIMIT 1', [current.id]);
        throw otherKey(other?.key_id ?? 'another key', current.id);
      }
    },

    async delete(name) {
      return (await db.run('DELETE FROM secrets WHERE key = $1', [name])) > 0;
    },

    close: () => db.close(),
  };
}

export interface SecretKeyCounts {
  keyId: string;
  secrets: number;
}

/** How many secrets each key id holds (the current one first). */
export async function countSecretsByKey(db: PgDatabase, currentId: string): Promise<SecretKeyCounts[]> {
  const rows = await db.all<{ key_id: string; n: number }>('SELECT key_id, count(*) AS n FROM secrets GROUP BY key_id ORDER BY key_id');
  return rows
    .map((row) => ({ keyId: row.key_id, secrets: row.n }))
    .sort((a, b) => Number(b.keyId === currentId) - Number(a.keyId === currentId));
}

export interface RotationResult {
  keyId: string;
  previousKeyId: string | null;
  /** Re-encrypted from the previous key to the current one. */
  rotated: number;
  /** Already under the current key: left as they were. */
  unchanged: number;
}

/**
 * Re-encrypts every secret under `previous` with `current`, in one transaction with the rows locked: every host sees
 * the old rows or the new ones. Rows already under `current` are left (a second run does nothing); a row under a key
 * that is neither is an error, and then nothing changes.
 */
export async function rotateSecrets(db: PgDatabase, current: MasterKey, previous: MasterKey | undefined, previousEnv: string): Promise<RotationResult> {
  return db.tx(async (client: PgQueryable) => {
    const { rows } = await client.query<SecretRow>('SELECT key, key_id, nonce, ciphertext, auth_tag FROM secrets ORDER BY key FOR UPDATE');
    const stale = rows.filter((row) => row.key_id !== current.id);
    const strangers = [...new Set(stale.filter((row) => row.key_id !== previous?.id).map((row) => row.key_id))];
    if (strangers.length > 0) {
      const count = stale.filter((row) => strangers.includes(row.key_id)).length;
      const ids = strangers.join(', ');
      throw new UserError(
        `${count} secret${count === 1 ? ' is' : 's are'} encrypted under key id ${ids}, which is neither LUMEN_MASTER_KEY's (${current.id})` +
          `${previous ? ` nor ${previousEnv}'s (${previous.id})` : ''}.`,
        {
          code: previous ? 'secrets_key_unknown' : 'previous_master_key_missing',
          kind: 'usage',
          hint: `Set ${previousEnv} to the passphrase that wrote them (key id ${ids}) and LUMEN_MASTER_KEY to the new one, then run \`lumen secrets rotate-key\` again.`,
        },
      );
    }
    const now = new Date().toISOString();
    for (const row of stale) {
      const sealed = encrypt(current, row.key, decrypt(previous!, row));
      await client.query('UPDATE secrets SET key_id = $2, nonce = $3, ciphertext = $4, auth_tag = $5, updated_at = $6 WHERE key = $1', [
        row.key,
        current.id,
        sealed.nonce,
        sealed.ciphertext,
        sealed.tag,
        now,
      ]);
    }
    return { keyId: current.id, previousKeyId: previous?.id ?? null, rotated: stale.length, unchanged: rows.length - stale.length };
  });
}

/** A usage error for a previous key that is the current one: nothing to rotate to. */
export function samePassphrase(previousEnv: string): UsageError {
  return new UsageError(
    `${previousEnv} and LUMEN_MASTER_KEY are the same passphrase: there is nothing to rotate.`,
    `Put the new passphrase in LUMEN_MASTER_KEY and the old one in ${previousEnv}.`,
  );
}

function otherKey(rowKeyId: string, currentId: string): UserError {
  return new UserError(`The secrets in the database are encrypted under key id ${rowKeyId}, not LUMEN_MASTER_KEY's (${currentId}).`, {
    code: 'secrets_key_mismatch',
    hint:
      `Set LUMEN_MASTER_KEY to the passphrase with key id ${rowKeyId}; or, to move to this one, run \`lumen secrets rotate-key\` ` +
      `with the old passphrase in ${PREVIOUS_MASTER_KEY_ENV}.`,
  });
}

function encrypt(key: MasterKey, name: string, value: string): { nonce: Buffer; ciphertext: Buffer; tag: Buffer } {
  const nonce = randomBytes(NONCE_BYTES); // fresh per write: GCM must never reuse a nonce under one key
  const cipher = createCipheriv('aes-256-gcm', key.key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(name, 'utf8')); // binds the ciphertext to its row: values cannot be swapped between keys
  const ciphertext = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
  return { nonce, ciphertext, tag: cipher.getAuthTag() };
}

function decrypt(key: MasterKey, row: SecretRow): string {
  try {
    // authTagLength pins the tag size: GCM would otherwise accept truncated tags.
    const decipher = createDecipheriv('aes-256-gcm', key.key, row.nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(row.key, 'utf8'));
    decipher.setAuthTag(row.auth_tag);
    return Buffer.concat([decipher.update(row.ciphertext), decipher.final()]).toString('utf8');
  } catch (error) {
    throw new UserError(`Cannot decrypt the secret "${row.key}" in the database: it was modified, or written by another program.`, {
      code: 'secrets_unreadable',
      hint: 'Store it again (`lumen whatsapp connect` for a number\'s secrets; the relay makes its own again once deleted).',
      cause: error,
    });
  }
}
