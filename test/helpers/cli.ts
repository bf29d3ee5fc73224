import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type Result } from 'execa';

export const ROOT = join(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'bin', 'lumen.js');

export interface LumenHome {
  dir: string;
  env: Record<string, string>;
  cleanup(): void;
}

/** A throw-away LUMEN_HOME with the file secret store, so nothing real of the user's is touched. */
export function makeHome(extraEnv: Record<string, string> = {}): LumenHome {
  const dir = mkdtempSync(join(tmpdir(), 'lumen-test-'));
  return {
    dir,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      LUMEN_HOME: dir,
      LUMEN_SECRET_STORE: 'file',
      NO_COLOR: '1',
      ...extraEnv,
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export type LumenResult = Result<{ reject: false; encoding: 'utf8' }>;

/** Runs the built CLI as a child process with only the given environment. */
export function lumen(
  args: string[],
  options: { env: Record<string, string>; input?: string; timeout?: number },
): Promise<LumenResult> {
  return execa('node', [BIN, ...args], {
    env: options.env,
    extendEnv: false,
    reject: false,
    input: options.input ?? '',
    timeout: options.timeout ?? 20_000,
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
