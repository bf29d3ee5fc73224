import { CommanderError } from './commander.js';
import { CancelledError, ExitCode, UserError } from './errors.js';
import { buildProgram, type ProgramState } from './program.js';

/**
 * The entry point, and the only place that turns errors into text and exit codes.
 * Expected errors print one line (plus a hint); anything else is a bug and says how to see more.
 */
export async function main(argv: string[]): Promise<void> {
  const state: ProgramState = { exitCode: 0 };
  const json = argv.includes('--json');
  const debug = argv.includes('--debug');
  try {
    await buildProgram(state).parseAsync(argv);
    process.exitCode = state.exitCode;
  } catch (error) {
    process.exitCode = await report(error, { json, debug });
  }
}

interface Reported {
  code: string;
  message: string;
  hint?: string | undefined;
  exitCode: number;
  details?: Record<string, unknown>;
}

async function report(error: unknown, mode: { json: boolean; debug: boolean }): Promise<number> {
  if (error instanceof CommanderError) {
    // Help and version were already printed by commander.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return ExitCode.ok;
    if (error.code === 'commander.help' || error.code === 'commander.executeSubCommandAsync') return error.exitCode;
  }
  if (error instanceof CancelledError) {
    if (mode.json) write(process.stdout, { error: { code: 'cancelled', message: error.message } });
    else process.stderr.write(`${error.message}\n`);
    return ExitCode.cancelled;
  }
  const reported = await describe(error);
  if (mode.json) {
    write(process.stdout, {
      error: { code: reported.code, message: reported.message, hint: reported.hint ?? null, ...reported.details },
    });
  } else {
    process.stderr.write(`Error: ${reported.message}\n`);
    if (reported.hint) process.stderr.write(`Hint: ${reported.hint}\n`);
  }
  if (mode.debug && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  return reported.exitCode;
}

async function describe(error: unknown): Promise<Reported> {
  if (error instanceof CommanderError) {
    return {
      code: 'usage',
      message: error.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' '),
      hint: 'Run with --help to see the usage.',
      exitCode: ExitCode.usage,
    };
  }
  if (error instanceof UserError) {
    return { code: error.code, message: error.message, hint: error.hint, exitCode: error.exitCode };
  }
  // Loaded only on this path: GraphError lives with the HTTP client.
  const { GraphError } = await import('../graph/errors.js');
  if (error instanceof GraphError) {
    const parts = [`Meta rejected ${error.request}: ${error.message}`];
    if (error.code !== undefined) parts.push(`(code ${error.code}${error.subcode ? `/${error.subcode}` : ''})`);
    if (error.details && error.details !== error.message) parts.push(`— ${error.details}`);
    return {
      code: error.isAuthError ? 'auth_invalid_token' : 'graph_error',
      message: parts.join(' '),
      hint: error.fbtraceId ? `fbtrace_id ${error.fbtraceId} (quote it to Meta support).` : undefined,
      exitCode: error.isAuthError ? ExitCode.auth : ExitCode.error,
      details: { graph: error.toJSON() },
    };
  }
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return {
    code: 'internal',
    message: `Unexpected error: ${firstLine(message)}`,
    hint: 'This is a bug in lumen. Run again with --debug for the stack trace.',
    exitCode: ExitCode.error,
  };
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0]!;
}

/** One line: it may follow NDJSON events (relay, bulk send) on the same stdout. */
function write(stream: NodeJS.WriteStream, data: unknown): void {
  stream.write(`${JSON.stringify(data)}\n`);
}
