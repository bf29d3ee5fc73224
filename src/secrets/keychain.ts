import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import type { AsyncEntry, EntryOptions } from '@napi-rs/keyring';
import { fileProblem, UserError } from '../errors.js';
import type { SecretStore } from './types.js';

export const DEFAULT_KEYCHAIN_SERVICE = 'lumen';
const DEFAULT_TIMEOUT_MS = 1500;

/**
 * Pin Linux to the Secret Service: by default the library silently falls back to the kernel
 * keyring, which loses everything at logout or reboot. Ignored on macOS and Windows.
 */
const ENTRY_OPTIONS: EntryOptions = { linux: { store: 'secret-service' } };

export interface KeychainOptions {
  /** Service name the entries are filed under (account = the secret's key). */
  service?: string | undefined;
}

export interface ProbeKeychainOptions extends KeychainOptions {
  timeoutMs?: number | undefined;
}

export type KeychainProbe = { ok: true } | { ok: false; reason: string };

export function createKeychainSecretStore(options: KeychainOptions = {}): SecretStore {
  const service = options.service ?? DEFAULT_KEYCHAIN_SERVICE;
  let busAnswered = false; // only success is remembered: the relay is long-lived and the bus may come back

  async function withEntry<T>(action: string, key: string, use: (entry: AsyncEntry) => Promise<T>): Promise<T> {
    if (!busAnswered) {
      const busProblem = await checkSessionBus(DEFAULT_TIMEOUT_MS);
      if (busProblem) throw keychainUnavailable(`cannot ${action} "${key}": ${busProblem}`);
      busAnswered = true;
    }
    try {
      return await use(await openEntry(service, key));
    } catch (error) {
      throw keychainUnavailable(`cannot ${action} "${key}": ${shortReason(error)}`, error);
    }
  }

  return {
    kind: 'keychain',
    description: `OS keychain (${keychainName()}, service "${service}")`,
    get: (key) => withEntry('read', key, async (entry) => (await entry.getPassword()) ?? undefined),
    set: (key, value) => withEntry('store', key, (entry) => entry.setPassword(value)),
    delete: (key) => withEntry('delete', key, (entry) => entry.deleteCredential()),
  };
}

/**
 * A real round trip (set, get, delete of a throwaway entry). Never rejects. Without a D-Bus session
 * it answers in milliseconds, otherwise within `timeoutMs` — except that a frozen Secret Service
 * holds the main thread in the library's constructor for its own D-Bus timeout (~2 s) first.
 */
export async function probeKeychain(options: ProbeKeychainOptions = {}): Promise<KeychainProbe> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const service = options.service ?? DEFAULT_KEYCHAIN_SERVICE;
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<KeychainProbe>((resolve) => {
    timer = setTimeout(() => {
      abort.abort();
      resolve({ ok: false, reason: `no answer within ${timeoutMs} ms` });
    }, timeoutMs);
    timer.unref(); // a stuck keychain must not keep the CLI alive
  });
  try {
    return await Promise.race([roundTrip(service, timeoutMs, abort.signal), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

async function roundTrip(service: string, timeoutMs: number, signal: AbortSignal): Promise<KeychainProbe> {
  const busProblem = await checkSessionBus(timeoutMs, signal);
  if (busProblem) return { ok: false, reason: busProblem };
  let entry: AsyncEntry | undefined;
  let stored = false;
  try {
    // A unique account per probe, so two lumen processes probing at once cannot confuse each other.
    entry = await openEntry(service, `lumen-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
    const token = randomBytes(16).toString('hex');
    await entry.setPassword(token, signal);
    stored = true;
    const readBack = await entry.getPassword(signal);
    return readBack === token ? { ok: true } : { ok: false, reason: 'the keychain returned a different value' };
  } catch (error) {
    return { ok: false, reason: shortReason(error) };
  } finally {
    if (stored) await entry?.deleteCredential().catch(() => false);
  }
}

async function openEntry(service: string, account: string): Promise<AsyncEntry> {
  // Loaded here, not at the top: the native module costs start-up time that most commands do not need.
  const keyring = await import('@napi-rs/keyring');
  // Throws synchronously when the Secret Service cannot be reached.
  return new keyring.AsyncEntry(service, account, ENTRY_OPTIONS);
}

function keychainUnavailable(detail: string, cause?: unknown): UserError {
  return new UserError(`OS keychain unavailable: ${detail}.`, {
    code: 'keychain_unavailable',
    hint: 'Unlock or start your keychain, or set LUMEN_SECRET_STORE=file to keep secrets in an encrypted file.',
    cause,
  });
}

function keychainName(): string {
  if (process.platform === 'darwin') return 'macOS Keychain';
  if (process.platform === 'win32') return 'Windows Credential Manager';
  return 'Secret Service';
}

/** One short line for warnings and errors. Keyring messages never carry secret values, but stay brief. */
function shortReason(error: unknown): string {
  const messages: string[] = [];
  for (let e: unknown = error; e instanceof Error && messages.length < 8; e = e.cause) messages.push(e.message);
  const outer = messages[0] ?? String(error);
  const inner = messages[messages.length - 1] ?? outer;
  if (error instanceof Error && error.name === 'AbortError') return 'timed out';
  if (/autolaunch|DBUS_SESSION_BUS_ADDRESS/.test(outer)) return 'no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)';
  if (/no result found/i.test(outer)) return 'the Secret Service has no default keyring (is one set up and unlocked?)';
  if (/Did not receive a reply/.test(outer)) return 'the Secret Service did not reply';
  const line = (inner.split('\n')[0] ?? inner).trim();
  const text = /DBus error/.test(outer) && !/D-?Bus/.test(line) ? `D-Bus: ${line}` : line;
  return text.length > 140 ? `${text.slice(0, 139)}…` : text;
}

/**
 * Linux/BSD only: check that the D-Bus session bus answers, without blocking.
 *
 * libdbus connects synchronously on the main thread inside the AsyncEntry constructor, and a bus
 * socket that accepts but never answers (a frozen dbus-daemon) blocks it without limit, beyond the
 * reach of any timer. Sending the first line of the D-Bus handshake from JS first catches that case.
 * Resolves undefined when the bus answers (or the check does not apply), else a short reason.
 */
async function checkSessionBus(timeoutMs: number, signal?: AbortSignal): Promise<string | undefined> {
  if (process.platform === 'darwin' || process.platform === 'win32') return undefined;
  const target = sessionBusSocket(process.env);
  if (!target) return undefined; // unset or unusual transport: the library fails fast on its own

  return new Promise((resolve) => {
    const socket = target.kind === 'unix' ? connect({ path: target.path }) : connect({ host: target.host, port: target.port });
    let done = false;
    const finish = (reason: string | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(reason);
    };
    const onAbort = (): void => finish('timed out');
    const timer = setTimeout(() => finish(`the D-Bus session bus did not answer within ${timeoutMs} ms`), timeoutMs);
    timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('connect', () => {
      // NUL byte, then "AUTH EXTERNAL <uid as hex of its decimal digits>": any reply means the bus is alive.
      const uid = Buffer.from(String(process.getuid?.() ?? 0)).toString('hex');
      socket.write(`\0AUTH EXTERNAL ${uid}\r\n`);
    });
    socket.once('data', () => finish(undefined));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      finish(`cannot reach the D-Bus session bus (${error.code === 'ENOENT' ? 'no bus socket' : error.code === 'ECONNREFUSED' ? 'nothing listens on its socket' : fileProblem(error)})`),
    );
    socket.on('close', () => finish('the D-Bus session bus closed the connection'));
  });
}

type BusSocket = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** The first usable transport of DBUS_SESSION_BUS_ADDRESS, e.g. "unix:path=/run/user/1000/bus". */
function sessionBusSocket(env: NodeJS.ProcessEnv): BusSocket | undefined {
  const address = env.DBUS_SESSION_BUS_ADDRESS;
  if (!address) {
    // libdbus falls back to $XDG_RUNTIME_DIR/bus, the systemd user bus.
    const fallback = env.XDG_RUNTIME_DIR ? path.join(env.XDG_RUNTIME_DIR, 'bus') : undefined;
    return fallback && existsSync(fallback) ? { kind: 'unix', path: fallback } : undefined;
  }
  for (const alternative of address.split(';')) {
    const colon = alternative.indexOf(':');
    const transport = alternative.slice(0, colon);
    const params = new Map<string, string>();
    for (const pair of alternative.slice(colon + 1).split(',')) {
      const eq = pair.indexOf('=');
      if (eq > 0) params.set(pair.slice(0, eq), safeDecode(pair.slice(eq + 1)));
    }
    const socketPath = params.get('path');
    const abstract = params.get('abstract');
    if (transport === 'unix' && socketPath) return { kind: 'unix', path: socketPath };
    if (transport === 'unix' && abstract) return { kind: 'unix', path: `\0${abstract}` }; // Linux abstract namespace
    const port = Number(params.get('port'));
    if (transport === 'tcp' && Number.isInteger(port) && port > 0) {
      return { kind: 'tcp', host: params.get('host') ?? 'localhost', port };
    }
  }
  return undefined;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
