import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../errors.js';
import type { SecretStore } from './types.js';

export interface FileSecretStoreOptions {
  /** The encrypted JSON file. */
  filePath: string;
  /** Holds a random 32-byte key (base64) when no master key is given; created on first write. */
  keyFilePath: string;
  /** Passphrase (LUMEN_MASTER_KEY). When set, the key is derived with scrypt and the key file is not used. */
  masterKey?: string | undefined;
  /** Runs with the lock held, just before a write replaces the file (tests stand for a holder stalled there). */
  beforeReplace?: () => Promise<void>;
}

/** One AES-256-GCM ciphertext, all fields base64. */
interface EncryptedEntry {
  iv: string;
  tag: string;
  data: string;
}

interface ScryptParams {
  name: 'scrypt';
  salt: string;
  N: number;
  r: number;
  p: number;
}

/** The file in memory. `entries` is a Map so keys such as "__proto__" are plain data. */
interface SecretsDocument {
  kdf: ScryptParams | undefined;
  entries: Map<string, EncryptedEntry>;
}

const FORMAT_VERSION = 1;
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** ≈50 ms on a small VM: enough to slow guessing of a passphrase, short enough for every CLI run. */
const SCRYPT_COST = { N: 2 ** 15, r: 8, p: 1 } as const;
/** Bounds for parameters read back from the file, so an edited file cannot make us allocate gigabytes. */
const SCRYPT_MAX = { N: 2 ** 20, r: 32, p: 16 } as const;

/** The file store, and the move of its secrets to another passphrase (`lumen secrets rotate-key`). */
export interface FileSecretStore extends SecretStore {
  /**
   * Re-encrypts every secret under `passphrase`, in one atomic write: how many were re-encrypted, and how many were
   * under it already (then nothing is written: running the same rotation twice changes nothing).
   */
  rekey(passphrase: string): Promise<{ rotated: number; unchanged: number }>;
}

export function createFileSecretStore(options: FileSecretStoreOptions): FileSecretStore {
  const { filePath, keyFilePath } = options;
  // An empty passphrase is treated as unset rather than as a (worthless) key.
  const masterKey = options.masterKey ? options.masterKey : undefined;
  const derivedKeys = new Map<string, Buffer>(); // salt and passphrase → key: scrypt runs once per store, not per call

  // Writes are read-modify-write of one file: serialise them within this process, and across processes with a lock
  // file (a relay creating its keys while `lumen whatsapp connect` stores a token would otherwise lose one).
  // A holder stalled past the lock's age (a stopped process, a frozen VM) loses it to another writer: its write then
  // finds the file changed since it read it, and the whole task runs again on what is there now.
  let queue: Promise<unknown> = Promise.resolve();
  function serially<T>(task: () => Promise<T>): Promise<T> {
    const locked = async () => {
      for (let attempt = 1; ; attempt += 1) {
        try {
          return await withFileLock(filePath, task);
        } catch (error) {
          if (!(error instanceof ChangedWhileWriting) || attempt >= 5) throw error instanceof ChangedWhileWriting ? changedTooOften(filePath) : error;
        }
      }
    };
    const run = queue.then(locked, locked);
    queue = run.catch(() => undefined);
    return run;
  }

  function unreadable(cause?: unknown): UserError {
    return new UserError(`Cannot decrypt the secrets in ${filePath}: the key is wrong or the file was modified.`, {
      code: 'secrets_unreadable',
      hint: masterKey
        ? 'LUMEN_MASTER_KEY does not match the passphrase this file was written with.'
        : `The key file ${keyFilePath} did not write this file; if it was written with LUMEN_MASTER_KEY set, set it again.`,
      cause,
    });
  }

  async function readText(): Promise<string | undefined> {
    try {
      return await readFile(filePath, 'utf8');
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return undefined;
      throw ioError('read', filePath, error);
    }
  }

  async function load(): Promise<SecretsDocument | undefined> {
    const text = await readText();
    return text === undefined ? undefined : parseDocument(text, filePath);
  }

  /** For a write: the document, and the text it was read from (the write checks the file still holds it). */
  async function loadForWrite(): Promise<{ doc: SecretsDocument | undefined; read: string | undefined }> {
    const read = await readText();
    return { doc: read === undefined ? undefined : parseDocument(read, filePath), read };
  }

  async function save(doc: SecretsDocument, read: string | undefined): Promise<void> {
    const json = {
      version: FORMAT_VERSION,
      ...(doc.kdf ? { kdf: doc.kdf } : {}),
      entries: Object.fromEntries(doc.entries),
    };
    try {
      await mkdir(path.dirname(filePath), { recursive: true, mode: 0o700 });
      await writeFileAtomic(filePath, `${JSON.stringify(json, null, 2)}\n`, async () => {
        await options.beforeReplace?.();
        if ((await readText()) !== read) throw new ChangedWhileWriting();
      });
    } catch (error) {
      if (error instanceof ChangedWhileWriting || error instanceof UserError) throw error;
      throw ioError('write', filePath, error);
    }
  }

  async function deriveKey(kdf: ScryptParams, passphrase: string): Promise<Buffer> {
    // By salt and passphrase: rekey tries the new passphrase on the file's own salt too.
    const id = `${kdf.salt}\n${passphrase}`;
    const cached = derivedKeys.get(id);
    if (cached) return cached;
    const key = await new Promise<Buffer>((resolve, reject) => {
      const maxmem = 256 * kdf.N * kdf.r; // scrypt needs ~128·N·r bytes; Node's default cap is 32 MiB
      scrypt(passphrase, Buffer.from(kdf.salt, 'base64'), KEY_BYTES, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem }, (err, derived) =>
        err ? reject(err) : resolve(derived),
      );
    });
    derivedKeys.set(id, key);
    return key;
  }

  async function readKeyFile(): Promise<Buffer | undefined> {
    let text: string;
    try {
      text = await readFile(keyFilePath, 'utf8');
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return undefined;
      throw ioError('read', keyFilePath, error);
    }
    const key = Buffer.from(text.trim(), 'base64');
    if (key.length !== KEY_BYTES) {
      throw new UserError(`The key file ${keyFilePath} does not hold a ${KEY_BYTES}-byte key.`, {
        code: 'secrets_corrupt',
        hint: `Restore it from a backup, or set LUMEN_MASTER_KEY if ${filePath} was written with a passphrase.`,
      });
    }
    return key;
  }

  async function createKeyFile(): Promise<Buffer> {
    const key = randomBytes(KEY_BYTES);
    try {
      await mkdir(path.dirname(keyFilePath), { recursive: true, mode: 0o700 });
      // 'wx': if another process created it first, use theirs instead of overwriting it.
      const handle = await open(keyFilePath, 'wx', 0o600);
      try {
        await handle.writeFile(`${key.toString('base64')}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return key;
    } catch (error) {
      if (errnoCode(error) === 'EEXIST') {
        const existing = await readKeyFile();
        if (existing) return existing;
      }
      throw ioError('write', keyFilePath, error);
    }
  }

  /**
   * The key for `doc`. With `forWrite`, an empty document may be (re)keyed: a salt is added for a
   * passphrase, or the key file is created. A document with entries is never rekeyed silently.
   */
  async function keyFor(doc: SecretsDocument, forWrite: boolean): Promise<Buffer> {
    const empty = doc.entries.size === 0;
    if (masterKey) {
      if (!doc.kdf) {
        if (!empty || !forWrite) {
          throw new UserError(`The secrets in ${filePath} were written with the key file ${keyFilePath}, not a passphrase.`, {
            code: 'secrets_unreadable',
            hint: 'Unset LUMEN_MASTER_KEY to read them with the key file.',
          });
        }
        doc.kdf = { name: 'scrypt', salt: randomBytes(16).toString('base64'), ...SCRYPT_COST };
      }
      return deriveKey(doc.kdf, masterKey);
    }
    if (doc.kdf) {
      if (!empty || !forWrite) {
        throw new UserError(`The secrets in ${filePath} are protected by a passphrase.`, {
          code: 'secrets_unreadable',
          hint: 'Set LUMEN_MASTER_KEY to the passphrase they were written with.',
        });
      }
      doc.kdf = undefined;
    }
    const key = await readKeyFile();
    if (key) return key;
    if (!empty || !forWrite) {
      throw new UserError(`The key file ${keyFilePath} for the secrets in ${filePath} is missing.`, {
        code: 'secrets_unreadable',
        hint: 'Restore the key file, or set LUMEN_MASTER_KEY if the file was written with a passphrase.',
      });
    }
    return createKeyFile();
  }

  /** Whether `key` is the one the document's secrets were written with. */
  function opens(key: Buffer, doc: SecretsDocument): boolean {
    const [name, entry] = [...doc.entries][0]!;
    try {
      decrypt(key, name, entry);
      return true;
    } catch {
      return false;
    }
  }

  function decrypt(key: Buffer, name: string, entry: EncryptedEntry): string {
    const iv = Buffer.from(entry.iv, 'base64');
    const tag = Buffer.from(entry.tag, 'base64');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw unreadable();
    try {
      // authTagLength pins the tag size: GCM would otherwise accept truncated tags.
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(name, 'utf8'));
      decipher.setAuthTag(tag);
      const plain = Buffer.concat([decipher.update(Buffer.from(entry.data, 'base64')), decipher.final()]);
      return plain.toString('utf8');
    } catch (error) {
      throw unreadable(error);
    }
  }

  function encrypt(key: Buffer, name: string, value: string): EncryptedEntry {
    const iv = randomBytes(IV_BYTES); // fresh per write: GCM must never reuse an IV under one key
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(name, 'utf8')); // binds the ciphertext to its key: entries cannot be swapped
    const data = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    return { iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
  }

  return {
    kind: 'file',
    description: masterKey
      ? `encrypted file ${filePath} (key from LUMEN_MASTER_KEY)`
      : `encrypted file ${filePath} (key file ${keyFilePath})`,

    async get(name) {
      const doc = await load();
      const entry = doc?.entries.get(name);
      if (!doc || !entry) return undefined;
      return decrypt(await keyFor(doc, false), name, entry);
    },

    set(name, value) {
      return serially(async () => {
        const { doc: found, read } = await loadForWrite();
        const doc = found ?? { kdf: undefined, entries: new Map() };
        const key = await keyFor(doc, true);
        // Check the key against an existing entry first, so a wrong key never mixes keys in one file.
        const first = doc.entries.entries().next();
        if (!first.done) decrypt(key, first.value[0], first.value[1]);
        doc.entries.set(name, encrypt(key, name, value));
        await save(doc, read);
      });
    },

    async delete(name) {
      // Nothing stored: nothing to lock or write (and no folder made for it).
      if (!(await load())?.entries.has(name)) return false;
      return serially(async () => {
        const { doc, read } = await loadForWrite();
        if (!doc || !doc.entries.delete(name)) return false;
        await save(doc, read);
        return true;
      });
    },

    rekey(passphrase) {
      return serially(async () => {
        const { doc, read } = await loadForWrite();
        if (!doc || doc.entries.size === 0) return { rotated: 0, unchanged: 0 };
        if (doc.kdf && opens(await deriveKey(doc.kdf, passphrase), doc)) return { rotated: 0, unchanged: doc.entries.size };
        // Every secret read with the key it was written with (a wrong one fails here, before anything is written).
        const key = await keyFor(doc, false);
        const plain = [...doc.entries].map(([name, entry]) => [name, decrypt(key, name, entry)] as const);
        const kdf: ScryptParams = { name: 'scrypt', salt: randomBytes(16).toString('base64'), ...SCRYPT_COST };
        const next = await deriveKey(kdf, passphrase);
        await save({ kdf, entries: new Map(plain.map(([name, value]) => [name, encrypt(next, name, value)])) }, read);
        return { rotated: plain.length, unchanged: 0 };
      });
    },
  };
}

/** How long a write waits for another process's (a few scrypt runs at most take well under a second). */
const LOCK_WAIT_MS = 15_000;
/**
 * A lock this old was left by a process killed while it wrote (a write holds it well under a second). Told by age,
 * not by its process id: ids are reused (a relay restarted in a container is pid 1 again) and mean nothing across
 * containers sharing the folder.
 */
const LOCK_STALE_MS = 10_000;

/**
 * Runs `task` holding `<target>.lock`, created exclusively (with this process's id in it, for the error message). A
 * stale lock is removed under a second lock, `<target>.lock.takeover`, after looking at it again: two processes that
 * both find it stale never both remove one (the second would remove the first's new lock).
 */
async function withFileLock<T>(target: string, task: () => Promise<T>): Promise<T> {
  const lock = `${target}.lock`;
  try {
    await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
  } catch (error) {
    throw ioError('write', target, error);
  }
  const deadline = Date.now() + LOCK_WAIT_MS;
  // What this process writes in the lock: it removes the lock only while it still holds this.
  const token = `${process.pid} ${randomBytes(8).toString('hex')}`;
  for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
    if (await createExclusive(lock, token)) break;
    if ((await isStale(lock)) && (await takeOverStale(lock))) continue;
    if (Date.now() > deadline) {
      const holder = Number((await readFile(lock, 'utf8').catch(() => '')).split(' ')[0]);
      throw new UserError(`The secrets file ${target} is being written by another lumen${holder > 0 ? ` (process ${holder})` : ''}.`, {
        code: 'secrets_locked',
        hint: `Run the command again once it is done. If no lumen is running, remove ${lock}.`,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
  // A write that takes long (a slow disk) keeps its lock fresh, so it is never taken for a killed one's.
  const fresh = setInterval(() => {
    const now = new Date();
    utimes(lock, now, now).catch(() => undefined);
  }, LOCK_STALE_MS / 4);
  fresh.unref();
  try {
    return await task();
  } finally {
    clearInterval(fresh);
    if ((await readFile(lock, 'utf8').catch(() => '')) === token) await rm(lock, { force: true });
  }
}

/** Creates `file` holding `content` if nothing has that name: true when this call made it. */
async function createExclusive(file: string, content = String(process.pid)): Promise<boolean> {
  try {
    const handle = await open(file, 'wx', 0o600);
    try {
      await handle.writeFile(content);
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') return false;
    throw ioError('write', file, error);
  }
}

async function isStale(file: string): Promise<boolean> {
  const info = await stat(file).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs > LOCK_STALE_MS;
}

/** True when this call removed the stale lock; false while another process is taking it over (wait, then look again). */
async function takeOverStale(lock: string): Promise<boolean> {
  const guard = `${lock}.takeover`;
  if (!(await createExclusive(guard))) {
    // A guard left by a process killed in those few milliseconds goes by age too.
    if (await isStale(guard)) await rm(guard, { force: true });
    return false;
  }
  try {
    if (!(await isStale(lock))) return false;
    await rm(lock, { force: true });
    return true;
  } finally {
    await rm(guard, { force: true });
  }
}

/** Write to a temporary sibling, flush, then rename: readers see the old file or the new one, never half. */
/** The file is not what this write read: another process took the lock over (see `serially`). */
class ChangedWhileWriting extends Error {}

function changedTooOften(target: string): UserError {
  return new UserError(`The secrets file ${target} kept changing while this write waited for it.`, {
    code: 'secrets_locked',
    hint: 'Another process writes it without a lock (or holds one for long): run the command again once it is done.',
  });
}

async function writeFileAtomic(target: string, contents: string, beforeRename?: () => Promise<void>): Promise<void> {
  const temp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(contents);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await beforeRename?.();
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

function parseDocument(text: string, filePath: string): SecretsDocument {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw corrupt(filePath, 'it is not valid JSON');
  }
  if (!isRecord(raw)) throw corrupt(filePath, 'it is not a JSON object');
  if (typeof raw.version === 'number' && raw.version > FORMAT_VERSION) {
    throw new UserError(`The secrets file ${filePath} was written by a newer lumen (format ${raw.version}).`, {
      code: 'secrets_unsupported_version',
      hint: 'Upgrade lumen to read it.',
    });
  }
  if (raw.version !== FORMAT_VERSION) throw corrupt(filePath, 'it has no supported "version"');
  if (!isRecord(raw.entries)) throw corrupt(filePath, 'it has no "entries" object');

  const entries = new Map<string, EncryptedEntry>();
  for (const [name, value] of Object.entries(raw.entries)) {
    if (!isRecord(value) || typeof value.iv !== 'string' || typeof value.tag !== 'string' || typeof value.data !== 'string') {
      throw corrupt(filePath, `entry "${name}" is malformed`);
    }
    entries.set(name, { iv: value.iv, tag: value.tag, data: value.data });
  }
  return { kdf: parseKdf(raw.kdf, filePath), entries };
}

function parseKdf(value: unknown, filePath: string): ScryptParams | undefined {
  if (value === undefined) return undefined;
  if (
    isRecord(value) &&
    value.name === 'scrypt' &&
    typeof value.salt === 'string' &&
    value.salt.length > 0 &&
    isIntegerIn(value.N, 2, SCRYPT_MAX.N) &&
    (value.N & (value.N - 1)) === 0 && // scrypt requires a power of two
    isIntegerIn(value.r, 1, SCRYPT_MAX.r) &&
    isIntegerIn(value.p, 1, SCRYPT_MAX.p)
  ) {
    return { name: 'scrypt', salt: value.salt, N: value.N, r: value.r, p: value.p };
  }
  throw corrupt(filePath, 'its "kdf" settings are invalid');
}

function corrupt(filePath: string, why: string): UserError {
  return new UserError(`The secrets file ${filePath} is damaged: ${why}.`, {
    code: 'secrets_corrupt',
    hint: 'Restore it from a backup, or move it aside and reconnect to store the secrets again.',
  });
}

function ioError(action: 'read' | 'write', filePath: string, error: unknown): UserError {
  if (error instanceof UserError) return error;
  const code = errnoCode(error) ?? 'unknown error';
  return new UserError(`Cannot ${action} ${filePath} (${code}).`, {
    code: 'secrets_io',
    hint: 'Check the permissions of the folder (LUMEN_HOME) that holds it.',
    cause: error,
  });
}

function errnoCode(error: unknown): string | undefined {
  return isRecord(error) && typeof error.code === 'string' ? error.code : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}
