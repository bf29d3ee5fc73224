import { CancelledError } from '../errors.js';
import type { CliIo } from './io.js';

/** The seam between commands and the terminal; tests can pass their own. */
export interface Prompter {
  /** False with `--no-input` or when stdin/stdout is not a terminal. */
  readonly canPrompt: boolean;
  input(options: { message: string; default?: string; validate?: (value: string) => true | string }): Promise<string>;
  password(options: { message: string; validate?: (value: string) => true | string }): Promise<string>;
  confirm(options: { message: string; default?: boolean }): Promise<boolean>;
}

/** Prompts with @inquirer/prompts, drawn on stderr so stdout stays clean (and valid JSON with `--json`). */
export function createTerminalPrompter(canPrompt: boolean, io: Pick<CliIo, 'stdin' | 'stderr'>): Prompter {
  const context = { output: io.stderr, input: io.stdin };
  const load = () => import('@inquirer/prompts');
  return {
    canPrompt,
    input: (options) => cancellable(async () => (await load()).input({ ...options, validate: options.validate }, context)),
    password: (options) =>
      cancellable(async () => (await load()).password({ ...options, mask: '*', validate: options.validate }, context)),
    confirm: (options) => cancellable(async () => (await load()).confirm(options, context)),
  };
}

/** Ctrl-C at a prompt: inquirer throws ExitPromptError; we turn it into a quiet exit 3. */
async function cancellable<T>(ask: () => Promise<T>): Promise<T> {
  try {
    return await ask();
  } catch (error) {
    if (error instanceof Error && (error.name === 'ExitPromptError' || error.name === 'AbortPromptError')) {
      throw new CancelledError();
    }
    throw error;
  }
}
