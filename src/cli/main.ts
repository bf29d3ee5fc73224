import { CommanderError, type Command } from './commander.js';
import { UsageError, type ErrorKind, type Outcome } from '../errors.js';
import { processIo, type CliIo, type OutputStream } from './io.js';
import { buildProgram, type ProgramState } from './program.js';

/** The only mapping from what happened to an exit code (README: Exit codes). */
export const EXIT_CODES: Record<Outcome, number> = {
  ok: 0,
  failed: 1,
  not_found: 1,
  conflict: 1,
  unavailable: 1,
  usage: 2,
  cancelled: 3,
  auth: 4,
  pending_approval: 8,
};

/**
 * The entry point, and the only place that turns errors into text and exit codes.
 * Expected errors print one line (plus a hint); anything else is a bug and says how to see more.
 * `io` is everything the command reads and writes besides its arguments (the process's own by default); the exit
 * code goes to `io.exit` and is returned.
 */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  argv = helpRequest(argv);
  // A reader that went away (`lumen … | head -1`) is not an error: stop quietly, as with SIGPIPE. Exit handlers
  // (the demo's temporary home) still run.
  if ((io.stdout as unknown) === process.stdout) {
    for (const stream of [process.stdout, process.stderr]) {
      stream.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EPIPE') throw error;
        process.exit(process.exitCode ?? 0);
      });
    }
  }
  const state: ProgramState = { outcome: 'ok' };
  const json = argv.includes('--json');
  const debug = argv.includes('--debug');
  let code: number;
  try {
    const program = await buildProgram(state, argv, io);
    if (argv.includes('--help') || argv.includes('-h')) refuseUnknownCommand(program, argv.slice(2));
    await program.parseAsync(argv);
    code = EXIT_CODES[state.outcome];
  } catch (error) {
    code = await report(error, { json, debug, io });
  }
  io.exit(code);
  return code;
}

/**
 * As gh does: `lumen` alone (or with only global flags: `lumen --debug`) prints the help on stdout (exit 0), and
 * `lumen help whatsapp connect` is `lumen whatsapp connect --help` (commander's own help command stops at the first
 * word).
 */
function helpRequest(argv: string[]): string[] {
  const [node = 'node', script = 'lumen', ...rest] = argv;
  if (rest.length === 0 || onlyGlobalFlags(rest)) return [node, script, ...rest, '--help'];
  const first = commandWords(rest)[0];
  if (first?.word === 'help') return [node, script, ...rest.filter((_, i) => i !== first.at), '--help'];
  return argv;
}

/** The global flags that take a value (`-w acme`): their value is not a command word. */
const GLOBAL_VALUE_FLAGS = new Set(['-w', '--workspace']);

/** `--json`, `--debug`, `-w acme`… and nothing else: no command word, no other flag. */
function onlyGlobalFlags(args: string[]): boolean {
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] as string;
    if (GLOBAL_VALUE_FLAGS.has(arg)) {
      // `lumen -w` is missing its value: commander says so.
      if (i + 1 >= args.length) return false;
      i += 1;
    } else if (!['--json', '--no-input', '--debug'].includes(arg) && !arg.startsWith('--workspace=')) return false;
  }
  return true;
}

/** The words of argv up to its first flag that is not a global one, with where each was: the command path. */
function commandWords(args: string[]): Array<{ word: string; at: number }> {
  const words: Array<{ word: string; at: number }> = [];
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] as string;
    if (GLOBAL_VALUE_FLAGS.has(arg)) i += 1;
    else if (['--json', '--no-input', '--debug'].includes(arg) || arg.startsWith('--workspace=')) continue;
    else if (arg.startsWith('-')) break;
    else words.push({ word: arg, at: i });
  }
  return words;
}

/**
 * commander answers `lumen bogus --help` (and so `lumen help bogus`) with the top-level help and exit 0; as gh does,
 * a word that names no command is an unknown command instead. The walk stops at a command without subcommands
 * (what follows is its arguments) and at the first flag.
 */
function refuseUnknownCommand(program: Command, args: string[]): void {
  let command = program;
  for (const { word } of commandWords(args)) {
    if (command.commands.length === 0) return;
    const next = command.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (!next) {
      const path = [...names(command), word].join(' ');
      throw new UsageError(`unknown command '${path}'`, 'Run `lumen --help` to see the commands.');
    }
    command = next;
  }
}

function names(command: Command): string[] {
  return command.parent ? [...names(command.parent), command.name()] : [];
}

interface Reported {
  code: string;
  message: string;
  hint?: string | undefined;
  kind: ErrorKind;
  details?: Record<string, unknown>;
}

async function report(error: unknown, mode: { json: boolean; debug: boolean; io: CliIo }): Promise<number> {
  const { stdout, stderr } = mode.io;
  if (error instanceof CommanderError) {
    if (error.code === 'commander.version') {
      if (mode.json) stdout.write(`${JSON.stringify({ version: error.message }, null, 2)}\n`);
      else stdout.write(`${error.message}\n`);
      return EXIT_CODES.ok;
    }
    // Help was already printed by commander.
    if (error.code === 'commander.helpDisplayed') return EXIT_CODES.ok;
    if (error.code === 'commander.help' || error.code === 'commander.executeSubCommandAsync') return error.exitCode;
  }
  const reported = await describe(error);
  if (reported.kind === 'cancelled') {
    if (mode.json) write(stdout, { error: { code: reported.code, message: reported.message } });
    else stderr.write(`${reported.message}\n`);
    return EXIT_CODES.cancelled;
  }
  if (mode.json) {
    write(stdout, {
      error: { code: reported.code, message: reported.message, hint: reported.hint ?? null, ...reported.details },
    });
  } else {
    stderr.write(`Error: ${reported.message}\n`);
    if (reported.hint) stderr.write(`Hint: ${reported.hint}\n`);
  }
  if (mode.debug && error instanceof Error && error.stack) stderr.write(`${error.stack}\n`);
  return EXIT_CODES[reported.kind];
}

async function describe(error: unknown): Promise<Reported> {
  if (error instanceof CommanderError) {
    return {
      code: 'usage',
      message: error.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' '),
      hint: 'Run with --help to see the usage.',
      kind: 'usage',
    };
  }
  // Loaded only on this path, like GraphError below: `lumen --help` never needs them.
  const { UserError } = await import('../errors.js');
  if (error instanceof UserError) {
    return { code: error.code, message: error.message, hint: error.hint, kind: error.kind };
  }
  // GraphError lives with the HTTP client.
  const { GraphError } = await import('../graph/errors.js');
  if (error instanceof GraphError) {
    const parts = [`Meta rejected ${error.request}: ${error.message}`];
    if (error.code !== undefined) parts.push(`(code ${error.code}${error.subcode ? `/${error.subcode}` : ''})`);
    if (error.details && error.details !== error.message) parts.push(`— ${error.details}`);
    return {
      code: error.isAuthError ? 'auth_invalid_token' : 'graph_error',
      message: parts.join(' '),
      hint: error.fbtraceId ? `fbtrace_id ${error.fbtraceId} (quote it to Meta support).` : undefined,
      kind: error.isAuthError ? 'auth' : 'failed',
      details: { graph: error.toJSON() },
    };
  }
  // Faults of the machine (a full disk, a read-only folder) are not bugs: say what happened.
  const { describeSystemFault } = await import('../store/faults.js');
  const fault = describeSystemFault(error);
  if (fault) return { code: fault.code, message: fault.message, hint: fault.hint, kind: 'unavailable' };
  // A file that is missing or unreadable is said in words, with its path (never a bare ENOENT).
  const errno = error as NodeJS.ErrnoException;
  if (typeof errno?.code === 'string' && /^E[A-Z]+$/.test(errno.code) && typeof errno.path === 'string') {
    const { fileProblem } = await import('../errors.js');
    return { code: 'file_error', message: `Cannot use ${errno.path}: ${fileProblem(error)}.`, hint: 'Check the path and its permissions.', kind: 'failed' };
  }
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return {
    code: 'internal',
    message: `Unexpected error: ${firstLine(message)}`,
    hint: 'This is a bug in lumen. Run again with --debug for the stack trace.',
    kind: 'failed',
  };
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0]!;
}

/** One line: it may follow NDJSON events (relay, bulk send) on the same stdout. */
function write(stream: OutputStream, data: unknown): void {
  stream.write(`${JSON.stringify(data)}\n`);
}
