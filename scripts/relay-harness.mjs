/**
 * What the reliability scripts (fuzz-relay.mjs, crash-relay.mjs) need to run the relay the way a user does, all on
 * this machine: a temporary LUMEN_HOME with the file secret store, the sandbox (dist/sandbox) in this process as
 * the Graph API, `lumen whatsapp connect`, and `lumen relay start --json` as a child process. Needs `npm run build`.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

export const ROOT = join(import.meta.dirname, '..');
export const BIN = join(ROOT, 'bin', 'lumen.js');

/** Parses `--name value` / `--flag` arguments against defaults (numbers stay numbers). */
export function parseArgs(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    const key = arg.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in defaults)) throw new Error(`unknown option ${arg}; options: ${Object.keys(defaults).map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(' ')}`);
    if (typeof defaults[key] === 'boolean') out[key] = true;
    else {
      const value = argv[++i];
      if (value === undefined) throw new Error(`${arg} needs a value`);
      out[key] = typeof defaults[key] === 'number' ? Number(value) : value;
      if (typeof defaults[key] === 'number' && !Number.isFinite(out[key])) throw new Error(`${arg} must be a number`);
    }
  }
  return out;
}

export async function startSandbox(options = {}) {
  const entry = join(ROOT, 'dist', 'sandbox', 'index.js');
  if (!existsSync(entry) || !existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first.');
  const { startSandbox: start } = await import(pathToFileURL(entry).href);
  return start(options);
}

/** A throw-away LUMEN_HOME and the environment for lumen in it (nothing of the user's is read or written). */
export function makeHome(extraEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'lumen-reliability-'));
  return {
    dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, LUMEN_HOME: dir, LUMEN_SECRET_STORE: 'file', NO_COLOR: '1', ...extraEnv },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function lumen(args, env, timeoutMs = 30_000) {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ exitCode: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** `lumen whatsapp connect` for the sandbox's number: {id, path, verifyToken}. */
export async function connectSandboxNumber(env, sandbox) {
  const result = await lumen(
    ['whatsapp', 'connect', '--phone-number-id', sandbox.phoneNumberId, '--waba-id', sandbox.wabaId, '--no-input', '--json'],
    { ...env, LUMEN_GRAPH_URL: sandbox.url, WHATSAPP_ACCESS_TOKEN: sandbox.accessToken, WHATSAPP_APP_SECRET: sandbox.appSecret },
  );
  if (result.exitCode !== 0) throw new Error(`lumen whatsapp connect failed (${result.exitCode}): ${result.stdout}${result.stderr}`);
  const json = JSON.parse(result.stdout);
  return { id: json.id, path: json.webhook.path, verifyToken: json.webhook.verifyToken };
}

/**
 * `lumen relay start --port 0 --json …args` as a child process; resolves once its first line (`listening`) is out.
 * The handle: url, pid, events (NDJSON lines so far), stderr(), kill() (SIGKILL), stop() (SIGTERM), exited.
 */
export function startRelayProcess(env, args = [], timeoutMs = 20_000) {
  const child = spawn(process.execPath, [BIN, 'relay', 'start', '--port', '0', '--json', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events = [];
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });
  const handle = {
    url: '',
    pid: child.pid,
    events,
    stderr: () => stderr,
    exited,
    async kill() {
      if (!hasExited) child.kill('SIGKILL');
      return exited;
    },
    async stop(graceMs = 20_000) {
      if (!hasExited) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the relay did not listen within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    createInterface({ input: child.stdout }).on('line', (line) => {
      let event;
      try {
        event = JSON.parse(line);
      } catch {
        event = { event: '__not_json__', line };
      }
      events.push(event);
      if (event.event === 'listening' && !handle.url) {
        clearTimeout(timer);
        handle.url = event.url;
        resolve(handle);
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      if (!handle.url) reject(new Error(`the relay exited (${code ?? signal}) before listening\n${stderr}`));
    });
  });
}

/** An HTTP server on 127.0.0.1 recording each POST's body with the time it arrived; answers 200. */
export async function startForwardTarget() {
  const received = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ at: Date.now(), body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${server.address().port}/hook`,
    received,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
