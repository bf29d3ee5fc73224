/**
 * The closed error family, below every layer: graph, config, secrets, store, services, relay and cli all import it.
 * Errors say what happened and what kind of failure it is; only `cli/main.ts` turns a kind into an exit code.
 * Anything thrown that is not one of these is a bug: `cli/main.ts` prints it as one line and suggests `--debug`.
 */

/**
 * What kind of failure an expected error is. `usage`: the command line or an input file is wrong; `auth`: Meta
 * rejected the credentials; `cancelled`: the user backed out; `pending_approval`: held for a person to decide;
 * `not_found`: what was named does not exist; `conflict`: it exists in another state (decided, being sent, reused
 * key); `unavailable`: something outside lumen failed (disk, keychain, network) and a retry may work; `failed`:
 * any other refusal.
 */
export type ErrorKind =
  | 'usage'
  | 'auth'
  | 'cancelled'
  | 'pending_approval'
  | 'not_found'
  | 'conflict'
  | 'unavailable'
  | 'failed';

/** How a command ended: `ok`, or the kind of failure it reports (after printing its result). */
export type Outcome = 'ok' | ErrorKind;

export interface UserErrorOptions {
  /** Stable, machine-readable code (snake_case); part of the `--json` contract. */
  code: string;
  hint?: string | undefined;
  kind?: ErrorKind;
  cause?: unknown;
}

/** An expected failure: bad input, missing configuration, a refused request. */
export class UserError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly kind: ErrorKind;

  constructor(message: string, options: UserErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UserError';
    this.code = options.code;
    this.hint = options.hint;
    this.kind = options.kind ?? 'failed';
  }
}

/** Wrong command-line usage. */
export class UsageError extends UserError {
  constructor(message: string, hint?: string) {
    super(message, { code: 'usage', hint, kind: 'usage' });
    this.name = 'UsageError';
  }
}

/** The user backed out (Ctrl-C at a prompt, "no" to a confirmation): nothing written. */
export class CancelledError extends UserError {
  constructor(message = 'Cancelled.') {
    super(message, { code: 'cancelled', kind: 'cancelled' });
    this.name = 'CancelledError';
  }
}

/** `--no-input` (or no terminal) and a required value is missing: name where it can come from. */
export function missingInput(what: string, source: { flag?: string; env?: string }): UsageError {
  const ways = [source.flag && `pass ${source.flag}`, source.env && `set ${source.env}`].filter(Boolean).join(' or ');
  const note = source.flag ? '' : ' (secrets are never taken as flags, to keep them out of shell history)';
  return new UsageError(`Missing ${what}: ${ways}${note}.`, 'Prompts are off (--no-input or no terminal).');
}

const FILE_PROBLEMS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a folder, not a file',
  ENOTDIR: 'a part of the path is not a folder',
  ELOOP: 'too many symbolic links',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'the name is too long',
};

/** Why a file could not be read, in words (never a bare `ENOENT`). */
export function fileProblem(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && FILE_PROBLEMS[code]) return FILE_PROBLEMS[code]!;
  return error instanceof Error ? error.message : String(error);
}
