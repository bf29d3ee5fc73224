import type { Outcome } from '../errors.js';
import type { Context } from './context.js';

/**
 * How a command declares itself: its name, arguments, flags (each with its env-var twin, if it has one) and help,
 * as plain data. `lumen --help` reads declarations and nothing else, so this module and the modules that declare
 * commands import nothing at run time; a handler module loads only when its command runs (`withHandler`).
 * The handler's options type is derived from its flags: `Options<typeof connect>`.
 */

declare const valueType: unique symbol;

export type FlagKind = 'boolean' | 'negatable' | 'value' | 'optional-value' | 'repeatable' | 'variadic';

/** One flag. Made only by `flag.*`, so that its `kind` and the type the handler receives (`T`) agree. */
export interface Flag<T> {
  /** commander's syntax: `-y, --yes`, `--label <label>`, `--auto-reply [text]`, `--trust-proxy <address...>`. */
  readonly flags: string;
  /** The long name, e.g. `--phone-number-id`: for messages that tell the user which flag to pass. */
  readonly name: string;
  readonly description: string;
  readonly kind: FlagKind;
  readonly default?: string | undefined;
  /** Read when the flag is not given (flag > env var > default); named in the flag's help. */
  readonly env?: string | undefined;
  /** Type-level only: what the handler receives. */
  readonly [valueType]?: T;
}

export type Flags = Readonly<Record<string, Flag<unknown>>>;

function make<T>(kind: FlagKind, flags: string, description: string, more: { default?: string; env?: string } = {}): Flag<T> {
  const name = flags.split(/[ ,|]+/).find((part) => part.startsWith('--')) ?? flags;
  return { flags, name, description, kind, default: more.default, env: more.env };
}

type ValueSyntax = `${string}<${string}>`;

function stringFlag(flags: ValueSyntax, description: string, options?: { env?: string }): Flag<string | undefined>;
function stringFlag(flags: ValueSyntax, description: string, options: { env?: string; default: string }): Flag<string>;
function stringFlag(flags: ValueSyntax, description: string, options: { env?: string; default?: string } = {}): Flag<string | undefined> {
  return make('value', flags, description, options);
}

export const flag = {
  /** `--check`: true when given. */
  boolean: (flags: `${string}--${string}`, description: string): Flag<boolean> => make('boolean', flags, description),
  /** `--no-subscribe`: the handler gets `subscribe`, true unless the flag is given. */
  negatable: (flags: `--no-${string}`, description: string): Flag<boolean> => make('negatable', flags, description),
  /** `--label <label>`: the value; else the env twin's, else the default, else undefined. */
  string: stringFlag,
  /** `--auto-reply [text]`: the text, `true` when given without one, undefined when absent. */
  optionalValue: (flags: `${string}[${string}]`, description: string): Flag<string | true | undefined> =>
    make('optional-value', flags, description),
  /** `--param <value>`, given any number of times: every value in order (none: an empty list). */
  repeatable: (flags: ValueSyntax, description: string): Flag<string[]> => make('repeatable', flags, description),
  /** `--trust-proxy <address...>`: several values after one flag. */
  variadic: (flags: `${string}<${string}...>`, description: string): Flag<string[] | undefined> =>
    make('variadic', flags, description),
};

/** A positional argument: `<name>` is required (a string), `[name]` optional. */
export interface Arg<T> {
  readonly syntax: string;
  readonly description: string;
  readonly [valueType]?: T;
}

export type Args = readonly Arg<unknown>[];

export function arg<S extends `<${string}>` | `[${string}]`>(
  syntax: S,
  description: string,
): Arg<S extends `<${string}>` ? string : string | undefined> {
  return { syntax, description };
}

export type FlagValues<F extends Flags> = { -readonly [K in keyof F]: F[K] extends Flag<infer T> ? T : never };
export type ArgValues<A extends Args> = { -readonly [I in keyof A]: A[I] extends Arg<infer T> ? T : never };

export interface CommandDeclaration<F extends Flags = Flags, A extends Args = Args> {
  readonly name: string;
  readonly description: string;
  readonly args: A;
  readonly flags: F;
  /** Shown after the options: examples, notes. */
  readonly help?: string | undefined;
}

export function command<F extends Flags = {}, const A extends Args = []>(declaration: {
  name: string;
  description: string;
  args?: A;
  flags?: F;
  help?: string;
}): CommandDeclaration<F, A> {
  // Omitted, A and F are their defaults ([] and {}), which is what these are.
  return { ...declaration, args: declaration.args ?? ([] as unknown as A), flags: declaration.flags ?? ({} as F) };
}

/** What a command's handler receives: its flags' values by key. */
export type Options<D> = D extends CommandDeclaration<infer F, Args> ? FlagValues<F> : never;

/** Returning an outcome other than `ok` sets the exit code (main.ts maps it). */
export type Handler<F extends Flags, A extends Args> = (
  ctx: Context,
  options: FlagValues<F>,
  ...args: ArgValues<A>
) => Promise<Outcome | void>;

/** The parsed command line, as the assembly (program.ts) reads it from commander. */
export interface Reader {
  flags<F extends Flags>(flags: F): FlagValues<F>;
  args<A extends Args>(args: A): ArgValues<A>;
}

/** A declaration bound to its handler, which loads only when the command runs. */
export interface LazyCommand extends CommandDeclaration {
  run(ctx: Context, input: Reader): Promise<Outcome | void>;
}

export function withHandler<F extends Flags, A extends Args>(
  declaration: CommandDeclaration<F, A>,
  load: () => Promise<{ run: Handler<F, A> }>,
): LazyCommand {
  return {
    ...declaration,
    async run(ctx, input) {
      const { run } = await load();
      return run(ctx, input.flags(declaration.flags), ...input.args(declaration.args));
    },
  };
}

/** A noun (`lumen whatsapp …`): listed in `lumen --help`; its verbs load only when it is named on the command line. */
export interface NounDeclaration {
  readonly name: string;
  readonly description: string;
  verbs(): Promise<readonly LazyCommand[]>;
}

export function noun(name: string, description: string, load: () => Promise<{ verbs: readonly LazyCommand[] }>): NounDeclaration {
  return { name, description, verbs: async () => (await load()).verbs };
}
