// Child processes for the bench: a temporary LUMEN_HOME connected to the in-process sandbox, servers that print a
// `listening` line, and the built CLI.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const LUMEN = join(ROOT, 'bin', 'lumen.js');
export const BASELINE_SERVER = join(ROOT, 'scripts', 'bench', 'baseline-server.mjs');
export const WHATSAPP_API_JS_SERVER = join(ROOT, 'scripts', 'bench', 'peers', 'whatsapp-api-js-server.mjs');
export const EXPRESS_SERVER = join(ROOT, 'scripts', 'bench', 'peers', 'express-server.mjs');

/** Temporary folders the bench made and has not removed yet: run.mjs removes them if it is interrupted. */
export const temporaryDirs = new Set();

export function makeTemporaryDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temporaryDirs.add(dir);
  return dir;
}

export function removeTemporaryDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  temporaryDirs.delete(dir);
}

/** Runs a command to completion; resolves with its exit code and output (never rejects on a non-zero exit). */
export function runProcess(args, { env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/**
 * A temporary LUMEN_HOME (file secret store) with the sandbox number connected by `lumen whatsapp connect`, as a
 * user would. Returns the environment every lumen process of the bench runs with (plus `extraEnv`, e.g.
 * LUMEN_DATABASE_URL).
 */
export async function connectedHome(sandbox, extraEnv = {}) {
  const home = makeTemporaryDir('lumen-bench-');
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('LUMEN_') || key.startsWith('WHATSAPP_')) delete env[key];
  Object.assign(env, {
    LUMEN_HOME: home,
    LUMEN_SECRET_STORE: 'file',
    LUMEN_GRAPH_URL: sandbox.url,
    WHATSAPP_ACCESS_TOKEN: sandbox.accessToken,
    WHATSAPP_APP_SECRET: sandbox.appSecret,
    NO_COLOR: '1',
    CI: '1',
    ...extraEnv,
  });
  const connect = await runProcess(
    [LUMEN, 'whatsapp', 'connect', '--phone-number-id', sandbox.phoneNumberId, '--waba-id', sandbox.wabaId, '--no-input', '--json', '--yes'],
    { env },
  );
  if (connect.code !== 0) throw new Error(`lumen whatsapp connect failed (exit ${connect.code}):\n${connect.stderr}${connect.stdout}`);
  const integrationId = JSON.parse(connect.stdout).id;
  if (typeof integrationId !== 'string') throw new Error(`lumen whatsapp connect printed no integration id:\n${connect.stdout}`);
  return { home, env, integrationId };
}

/**
 * Starts a server process whose first stdout line is `{"event":"listening","url":…}` and resolves once it is
 * listening. `startMs` is the time from spawn to that line. `stop()` sends SIGINT (a graceful stop: the relay finishes
 * its commits) and resolves with the exit code.
 */
export function startServer(args, { env, timeoutMs = 30_000 } = {}) {
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const lines = createInterface({ input: child.stdout });
  const output = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not report listening within ${timeoutMs} ms:\n${stderr}`));
    }, timeoutMs);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited (${code ?? signal}) before listening:\n${stderr}`));
    });
    lines.on('line', (line) => {
      output.push(line);
      let event;
      try {
        event = JSON.parse(line);
      } catch {
        return;
      }
      if (event.event !== 'listening') return;
      const startMs = performance.now() - spawnedAt;
      clearTimeout(timer);
      resolve({
        url: event.url,
        startMs,
        pid: child.pid,
        output,
        stderr: () => stderr,
        async stop() {
          child.kill('SIGINT');
          const timeout = setTimeout(() => child.kill('SIGKILL'), 20_000);
          const result = await exited;
          clearTimeout(timeout);
          return result;
        },
      });
    });
  });
}

/** Resident set size of a process in bytes (VmRSS), or undefined once it has gone. */
export function readRss(pid) {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU time (user + system, all threads) a process has used so far, in ms, or undefined once it has gone. */
export function readCpuMs(pid) {
  try {
    // Fields after the command name: state is [0], utime [11], stime [12], in clock ticks (100 per second on Linux).
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}
