/**
 * What the CLI reads from and writes to outside its arguments: the standard streams, the environment and where the
 * exit code goes. `bin/lumen.js` runs with the process's own (`processIo()`); tests can run a command inside their
 * own process with captured streams and a home's environment.
 */
export interface OutputStream extends NodeJS.WritableStream {
  readonly isTTY?: boolean;
  readonly columns?: number;
  hasColors?(): boolean;
}

export interface InputStream extends NodeJS.ReadableStream {
  readonly isTTY?: boolean;
}

export interface CliIo {
  stdin: InputStream;
  stdout: OutputStream;
  stderr: OutputStream;
  env: NodeJS.ProcessEnv;
  /** Receives the exit code once the command is over. */
  exit(code: number): void;
}

export function processIo(): CliIo {
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    exit: (code) => {
      process.exitCode = code;
    },
  };
}
