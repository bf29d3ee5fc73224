/**
 * The CLI two ways: `runLumen` runs a command inside the test's own process (the real program, a real LUMEN_HOME,
 * the real sandbox; only the standard streams and the environment are the test's), and `lumen` runs the built CLI
 * as a child process, for what only a process shows (exit codes as the shell sees them, TTY, signals, `bin/lumen.js`
 * loading dist/). Both answer `{ exitCode, stdout, stderr }`, with the final newline stripped as execa does.
 * Also a look at files.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { execa, type Result } from 'execa';
import { main } from '../../src/cli/main.js';
import { SAFETY_NET_MS } from './async.js';

export const ROOT = join(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'bin', 'lumen.js');

export type LumenResult = Result<{ reject: false; encoding: 'utf8' }>;

/** What a command printed and how it ended: the part of a child's result that an in-process run has too. */
export interface CliResult {
  exitCode?: number | undefined;
  stdout: string;
  stderr: string;
}

/** A stream that keeps what is written to it (not a terminal, like a pipe). */
class Capture extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    done();
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
  text(): string {
    return this.bytes().toString('utf8').replace(/\r?\n$/, '');
  }
}

/**
 * Runs `lumen ARGS` in this process: `main()` of src/cli with captured stdout/stderr, `input` as stdin and only the
 * given environment (a home's `env`). Nothing is spawned, so a run costs what the command does, not a Node start.
 * Long-running commands (`relay start`, `sandbox start`) and anything about signals or terminals use `lumen`.
 */
export async function runLumen(
  args: string[],
  options: { env: Record<string, string>; input?: string | Buffer },
): Promise<CliResult & { stdoutBytes: Buffer }> {
  const stdout = new Capture();
  const stderr = new Capture();
  let exitCode: number | undefined;
  await main(['node', BIN, ...args], {
    stdin: Readable.from(options.input === undefined || options.input === '' ? [] : [options.input]),
    stdout,
    stderr,
    env: { ...options.env },
    exit: (code) => {
      exitCode = code;
    },
  });
  return { exitCode, stdout: stdout.text(), stderr: stderr.text(), stdoutBytes: stdout.bytes() };
}

/**
 * Runs the built CLI as a child process with only the given environment (a home's `env`). `timeout` is a safety net
 * against a hung child (a spawn alone takes seconds on a loaded machine), not an expectation.
 */
export function lumen(
  args: string[],
  options: { env: Record<string, string>; input?: string; timeout?: number },
): Promise<LumenResult> {
  return execa('node', [BIN, ...args], {
    env: options.env,
    extendEnv: false,
    reject: false,
    input: options.input ?? '',
    timeout: options.timeout ?? SAFETY_NET_MS,
    encoding: 'utf8',
  }) as Promise<LumenResult>;
}

/** Every file under a folder, with its bytes as latin1 text: to search for secrets in plain text. */
export function readTree(dir: string): Array<{ path: string; text: string }> {
  const files: Array<{ path: string; text: string }> = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files.push(...readTree(path));
    else files.push({ path, text: readFileSync(path).toString('latin1') });
  }
  return files;
}

export function countOccurrences(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}
