/**
 * The closed error family. Anything thrown that is not one of these is a bug:
 * `cli/main.ts` prints it as one line and suggests `--debug`.
 */

export const ExitCode = {
  ok: 0,
  error: 1,
  usage: 2,
  cancelled: 3,
  auth: 4,
  pendingApproval: 8,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface UserErrorOptions {
  /** Stable, machine-readable code (snake_case); part of the `--json` contract. */
  code: string;
  hint?: string | undefined;
  exitCode?: ExitCode;
  cause?: unknown;
}

/** An expected failure: bad input, missing configuration, a refused request. */
export class UserError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly exitCode: ExitCode;

  constructor(message: string, options: UserErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UserError';
    this.code = options.code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? ExitCode.error;
  }
}

/** Wrong command-line usage (exit 2). */
export class UsageError extends UserError {
  constructor(message: string, hint?: string) {
    super(message, { code: 'usage', hint, exitCode: ExitCode.usage });
    this.name = 'UsageError';
  }
}

/** The user backed out (Ctrl-C at a prompt, "no" to a confirmation): exit 3, nothing written. */
export class CancelledError extends Error {
  constructor(message = 'Cancelled.') {
    super(message);
    this.name = 'CancelledError';
  }
}

/** `--no-input` (or no terminal) and a required value is missing: name where it can come from. */
export function missingInput(what: string, source: { flag?: string; env?: string }): UsageError {
  const ways = [source.flag && `pass ${source.flag}`, source.env && `set ${source.env}`].filter(Boolean).join(' or ');
  const note = source.flag ? '' : ' (secrets are never taken as flags, to keep them out of shell history)';
  return new UsageError(`Missing ${what}: ${ways}${note}.`, 'Prompts are off (--no-input or no terminal).');
}
