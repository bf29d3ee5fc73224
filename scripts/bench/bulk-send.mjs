// Bulk send rate accuracy: `lumen send --csv` at a set rate against the in-process sandbox, judged by the times
// the sandbox received each send (not by what the CLI reports about itself).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LUMEN, runProcess } from './processes.mjs';
import { maxInWindow } from './stats.mjs';

export const BULK_ROWS = 600;
export const BULK_RATE = 80;

export async function bulkSend({ sandbox, home, env, rows = BULK_ROWS, rate = BULK_RATE }) {
  const numbers = Array.from({ length: rows }, (_, i) => `+1555100${String(i).padStart(4, '0')}`);
  const csv = join(home, 'bench-bulk.csv');
  writeFileSync(csv, `to\n${numbers.join('\n')}\n`);
  const before = sandbox.sent().length;
  const result = await runProcess(
    [LUMEN, 'send', '--csv', csv, '--template', 'hello_world', '--lang', 'en_US', '--rate', String(rate), '--json', '--no-input'],
    { env },
  );
  const events = result.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
  const summary = events.find((e) => e.event === 'summary');
  if (result.code !== 0 || !summary) {
    throw new Error(`lumen send --csv exited ${result.code ?? result.signal}:\n${result.stderr}${result.stdout.slice(-2000)}`);
  }
  const wanted = new Set(numbers.map((n) => n.slice(1)));
  const accepted = sandbox
    .sent()
    .slice(before)
    .filter((s) => s.outcome.result === 'accepted' && wanted.has(s.waId));
  const times = accepted.map((s) => s.at).sort((a, b) => a - b);
  const spanMs = times.length > 1 ? times.at(-1) - times[0] : 0;
  return {
    rows,
    rate,
    sent: summary.sent,
    failed: summary.failed,
    received: accepted.length,
    spanMs,
    // n sends are n − 1 intervals: n / span would read 0.17 % high on a perfect schedule of 600.
    achievedRate: spanMs > 0 ? ((times.length - 1) * 1000) / spanMs : 0,
    worstWindow: maxInWindow(times, 1000),
    cliReportedRate: summary.rate,
    cliDurationMs: summary.durationMs,
  };
}
