import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from './commander.js';
import type { Outcome } from '../errors.js';
import { commands, description, globalFlags, help } from './commands/index.js';
import type { Args, ArgValues, Flag, FlagValues, Flags, LazyCommand, Reader } from './declare.js';
import type { CliIo } from './io.js';

export interface ProgramState {
  outcome: Outcome;
}

/**
 * Assembles the commands' declarations (commands/index.ts, and each noun's index.ts) into commander's tree.
 * Every noun is listed, but only a noun named on the command line loads its verbs, and a handler loads only when
 * its command runs: `lumen --help` loads commander and the top-level declarations, nothing else.
 * `io.env` is the one place flags' env-var twins are read from (and the context's env); help goes to `io.stdout`.
 */
export async function buildProgram(state: ProgramState, argv: readonly string[], io: CliIo): Promise<Command> {
  const { env } = io;
  const program = new Command('lumen')
    .description(description)
    .addOption(new Option('-v, --version', 'output the version number'));
  const globalOptions = addFlags(program, globalFlags);
  program
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({
      outputError: () => {}, // main.ts prints errors, once
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      getOutHelpWidth: () => (io.stdout.isTTY ? io.stdout.columns : undefined) ?? 80,
      getErrHelpWidth: () => (io.stderr.isTTY ? io.stderr.columns : undefined) ?? 80,
    })
    .addHelpText('after', help)
    // main.ts prints it (as `{"version": …}` with --json); package.json is read only when asked.
    .on('option:version', () => {
      throw new CommanderError(0, 'commander.version', lumenVersion());
    });

  const run = async (declaration: LazyCommand, input: Reader): Promise<void> => {
    const { createContext } = await import('./context.js');
    const ctx = createContext(readFlags(program, globalOptions, globalFlags, env), { io });
    try {
      state.outcome = (await declaration.run(ctx, input)) ?? 'ok';
    } finally {
      await ctx.close();
    }
  };

  const named = new Set(argv.slice(2));
  const loading: Array<Promise<void>> = [];
  for (const entry of commands) {
    if ('run' in entry) {
      addCommand(program, entry, run, env);
      continue;
    }
    const noun = program.command(entry.name).description(entry.description);
    if (named.has(entry.name)) {
      loading.push(entry.verbs().then((verbs) => verbs.forEach((verb) => addCommand(noun, verb, run, env))));
    }
  }
  await Promise.all(loading);
  return program;
}

type Run = (declaration: LazyCommand, input: Reader) => Promise<void>;

function addCommand(parent: Command, declaration: LazyCommand, run: Run, env: NodeJS.ProcessEnv): void {
  const command = parent.command(declaration.name).description(declaration.description);
  for (const argument of declaration.args) command.argument(argument.syntax, argument.description);
  const options = addFlags(command, declaration.flags);
  if (declaration.help !== undefined) command.addHelpText('after', declaration.help);
  const input: Reader = {
    flags: (flags) => readFlags(command, options, flags, env),
    args<A extends Args>(args: A): ArgValues<A> {
      // commander has checked them: a string each, or undefined for an optional one not given.
      return command.processedArgs.slice(0, args.length) as ArgValues<A>;
    },
  };
  command.action(() => run(declaration, input));
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function addFlags(command: Command, flags: Flags): Map<string, Option> {
  const options = new Map<string, Option>();
  for (const [key, flag] of Object.entries(flags)) {
    const option = new Option(flag.flags, flag.env === undefined ? flag.description : `${flag.description} (env ${flag.env})`);
    if (flag.kind === 'repeatable') option.argParser(collect).default([]);
    else if (flag.default !== undefined) option.default(flag.default);
    command.addOption(option);
    options.set(key, option);
  }
  return options;
}

function readFlags<F extends Flags>(command: Command, options: Map<string, Option>, flags: F, env: NodeJS.ProcessEnv): FlagValues<F> {
  const values: Record<string, unknown> = {};
  for (const [key, flag] of Object.entries(flags)) values[key] = readFlag(command, options.get(key)!, flag, env);
  // Sound by construction: each value has the type its flag's kind promises, and `flag.*` sets both together.
  return values as FlagValues<F>;
}

/** Precedence: the flag, then its env-var twin (when set and not blank), then its default. */
function readFlag(command: Command, option: Option, flag: Flag<unknown>, env: NodeJS.ProcessEnv): unknown {
  const key = option.attributeName();
  const given: unknown = command.getOptionValue(key);
  switch (flag.kind) {
    case 'boolean':
      return given === true;
    case 'negatable':
      return given !== false;
    default: {
      const twin = flag.env === undefined ? undefined : env[flag.env];
      const fromFlag = command.getOptionValueSource(key) === 'cli';
      return !fromFlag && twin !== undefined && twin.trim() !== '' ? twin : given;
    }
  }
}

/** lumen's own version (not npm_package_version, which is the version of whatever package runs an npm script). */
function lumenVersion(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}
