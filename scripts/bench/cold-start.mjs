// Cold start: wall time from spawn to exit of the built CLI against `node -e 0`, run alternately so that noise
// (other processes, CPU frequency) hits every command alike; medians.
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { LUMEN } from './processes.mjs';
import { median } from './stats.mjs';

export const COLD_START_ROUNDS = 20;

export function coldStart(env, rounds = COLD_START_ROUNDS) {
  const commands = [
    { key: 'node', label: 'node -e 0', args: ['-e', '0'] },
    { key: 'help', label: 'lumen --help', args: [LUMEN, '--help'] },
    { key: 'templatesList', label: 'lumen templates list', args: [LUMEN, 'templates', 'list'] },
  ];
  const run = (command) => {
    const started = performance.now();
    const result = spawnSync(process.execPath, command.args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const ms = performance.now() - started;
    if (result.status !== 0) {
      throw new Error(`${command.label} exited ${result.status ?? result.signal}:\n${result.stderr}${result.stdout}`);
    }
    return ms;
  };
  for (const command of commands) run(command); // page cache, compile cache: not what a user's second run pays
  const times = Object.fromEntries(commands.map((c) => [c.key, []]));
  for (let round = 0; round < rounds; round += 1) {
    // Rotate the order each round: no command always runs right after the same one.
    for (let i = 0; i < commands.length; i += 1) {
      const command = commands[(round + i) % commands.length];
      times[command.key].push(run(command));
    }
  }
  return Object.fromEntries(
    commands.map((c) => [c.key, { label: c.label, medianMs: median(times[c.key]), samplesMs: times[c.key].map((t) => round1(t)) }]),
  );
}

function round1(value) {
  return Math.round(value * 10) / 10;
}
