import { Chalk, type ChalkInstance } from 'chalk';
import type { OutputStream } from './io.js';

export interface OutputOptions {
  json: boolean;
  debug: boolean;
  env: NodeJS.ProcessEnv;
  stdout?: OutputStream;
  stderr?: OutputStream;
}

/**
 * Everything the CLI shows goes through here. stdout carries results only (the JSON document under `--json`);
 * progress, warnings and debug lines go to stderr.
 */
export class Output {
  readonly json: boolean;
  readonly debugEnabled: boolean;
  /** Colour and spinners: off for NO_COLOR, CI, `--json` and when stderr is not a terminal. */
  readonly fancy: boolean;
  readonly style: ChalkInstance;
  private readonly stdout: OutputStream;
  private readonly stderr: OutputStream;

  constructor(options: OutputOptions) {
    this.json = options.json;
    this.debugEnabled = options.debug;
    this.stdout = options.stdout ?? process.stdout;
    this.stderr = options.stderr ?? process.stderr;
    this.fancy = wantsFancyOutput(options.env, options.json, Boolean(this.stderr.isTTY));
    const stdoutColour = this.fancy && Boolean(this.stdout.isTTY);
    this.style = new Chalk({ level: stdoutColour ? 1 : 0 });
  }

  /** Prints the command's result: the JSON document with `--json`, else the human rendering. */
  result(data: unknown, human: () => string | string[]): void {
    if (this.json) {
      this.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
      return;
    }
    const text = human();
    const lines = Array.isArray(text) ? text : [text];
    if (lines.length > 0) this.stdout.write(`${lines.join('\n')}\n`);
  }

  /** One line of NDJSON (long-running commands with `--json`). */
  event(data: unknown): void {
    this.stdout.write(`${JSON.stringify(data)}\n`);
  }

  /** A human line on stdout (never used with `--json`). */
  print(line = ''): void {
    if (!this.json) this.stdout.write(`${line}\n`);
  }

  /** Progress and notes for the human: stderr, so stdout stays clean for pipes and `--json`. */
  info(line: string): void {
    this.stderr.write(`${line}\n`);
  }

  warn(line: string): void {
    const prefix = this.fancy ? new Chalk({ level: 1 }).yellow('!') : 'warning:';
    this.stderr.write(`${prefix} ${line}\n`);
  }

  debug(line: string): void {
    if (this.debugEnabled) this.stderr.write(`debug: ${line}\n`);
  }

  /**
   * Runs one step with a spinner on a terminal, or a plain line when it finishes elsewhere.
   * `done` may turn the result into the line to show ("✓ 7 templates synced"), or say it failed (`{ failed: line }`,
   * shown with ✗): a ✓ is for work that succeeded only.
   */
  async step<T>(label: string, work: () => Promise<T>, done?: (result: T) => string | { failed: string }): Promise<T> {
    const ok = this.fancy ? new Chalk({ level: 1 }).green('✓') : '✓';
    const fail = this.fancy ? new Chalk({ level: 1 }).red('✗') : '✗';
    if (!this.fancy) {
      try {
        const result = await work();
        const line = done ? done(result) : label;
        if (!this.json) this.stderr.write(typeof line === 'string' ? `${ok} ${line}\n` : `${fail} ${line.failed}\n`);
        return result;
      } catch (error) {
        if (!this.json) this.stderr.write(`${fail} ${label}\n`);
        throw error;
      }
    }
    const { default: ora } = await import('ora');
    const spinner = ora({ text: label, stream: this.stderr }).start();
    try {
      const result = await work();
      const line = done ? done(result) : label;
      spinner.stopAndPersist(typeof line === 'string' ? { symbol: ok, text: line } : { symbol: fail, text: line.failed });
      return result;
    } catch (error) {
      spinner.stopAndPersist({ symbol: fail, text: label });
      throw error;
    }
  }
}

export function wantsFancyOutput(env: NodeJS.ProcessEnv, json: boolean, isTTY: boolean): boolean {
  if (json || !isTTY) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.CI !== undefined && env.CI !== '' && env.CI !== 'false' && env.CI !== '0') return false;
  if (env.TERM === 'dumb') return false;
  return true;
}
