/** A long-running command's lifecycle: listen errors as one line, and a clean stop on a signal. */
import { UserError } from '../errors.js';
import type { SendStop } from '../services/messages/outbox.js';

/** A clear message for the usual listen failures instead of a stack. */
export function listenError(error: unknown, host: string, port: number): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') {
    return new UserError(`Port ${port} on ${host} is already in use.`, {
      code: 'port_in_use',
      hint: 'Stop the other process, or pass --port with another number (0 picks a free one).',
    });
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EACCES') {
    return new UserError(`Cannot listen on ${host}:${port} (${code}).`, {
      code: 'listen_failed',
      hint: 'Check --host (e.g. 127.0.0.1) and --port (ports below 1024 need privileges).',
    });
  }
  return error;
}

export interface ShutdownSignal extends Promise<NodeJS.Signals> {
  /** Stops listening for the signals (once the command has shut down). */
  dispose(): void;
}

/**
 * Resolves on the first SIGINT or SIGTERM: long-running commands then shut down cleanly. The handlers stay until
 * `dispose()`: a module that re-raises a signal when nobody else listens for it (execa's child clean-up does) would
 * otherwise kill the process in the middle of its shutdown. A second signal meanwhile (Ctrl-C again) stops at once:
 * nothing acknowledged is lost (it was committed before its answer), and what was in flight is retried later.
 */
export function waitForShutdownSignal(): ShutdownSignal {
  let onSignal: (signal: NodeJS.Signals) => void = () => {};
  let received = false;
  const promise = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = (signal) => {
      if (received) process.exit(signal === 'SIGINT' ? 130 : 143);
      received = true;
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  return Object.assign(promise, {
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  });
}

/**
 * Runs a send through Ctrl-C or SIGTERM: before the message is claimed for sending (reading the secret store, an
 * upload, a wait for a rate slot) the signal stops it, and nothing is sent; after, the send runs to its end and Meta's
 * answer is recorded before the process stops, else a re-run could not tell whether it went out (said with `warn`).
 * A second signal stops at once. `work` gets the stop to obey (a command that must finish ignores it).
 */
export async function finishingSend<T>(warn: (line: string) => void, work: (stop: SendStop) => Promise<T>): Promise<T> {
  const signal = waitForShutdownSignal();
  const controller = new AbortController();
  let sending = false;
  const stop: SendStop = { signal: controller.signal, sending: () => (sending = true) };
  void signal.then(() => {
    if (sending) warn("Stopping once this send is done: Meta's answer is recorded first, so nothing is sent twice. Again to stop at once.");
    controller.abort();
  });
  try {
    return await work(stop);
  } finally {
    signal.dispose();
  }
}
