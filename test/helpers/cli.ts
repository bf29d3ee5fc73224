/** The built CLI as a child process (for what only a process shows: exit codes, stdout/stderr, --json), and a look at files. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type Result } from 'execa';
import { SAFETY_NET_MS } from './async.js';

export const ROOT = join(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'bin', 'lumen.js');

export type LumenResult = Result<{ reject: false; encoding: 'utf8' }>;

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
