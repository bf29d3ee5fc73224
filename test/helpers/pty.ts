import { spawn } from 'node:child_process';
import { SAFETY_NET_MS } from './async.js';
import { BIN } from './cli.js';

export interface PtyStep {
  /** Wait until the screen output matches this… */
  expect: RegExp;
  /** …then type this (use "\r" for Enter, "\u0003" for Ctrl-C). */
  send: string;
}

export interface PtyResult {
  exitCode: number | null;
  output: string;
}

/**
 * Runs the built CLI inside a real pseudo-terminal (util-linux `script`), typing answers as prompts appear.
 * This is how a person drives the interactive prompts, masks and spinners included.
 */
export function runInPty(args: string[], env: Record<string, string>, steps: PtyStep[], timeoutMs = SAFETY_NET_MS): Promise<PtyResult> {
  // A wide terminal, so prompts and spinners do not wrap (a fresh pty reports 0 columns).
  const command = `stty cols 200 rows 50; exec ${['node', BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    env: { ...env, TERM: 'xterm' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  let next = 0;
  let consumed = 0;
  const onData = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    // Answer each prompt once, in order, looking only at output after the previous answer.
    while (next < steps.length && steps[next]!.expect.test(output.slice(consumed))) {
      const step = steps[next]!;
      consumed = output.length;
      next += 1;
      setTimeout(() => child.stdin.write(step.send), 50);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pty run timed out at step ${next}; output so far:\n${output}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ exitCode: code, output });
    });
  });
}
