// Runs WAL checkpoints on its own connection and thread, so the relay's commits never wait for the fsync a
// checkpoint does. Started by `startBackgroundCheckpoints` in db.ts.
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';

const { path, intervalMs, maxWalBytes, passiveIntervalMs } = workerData as {
  path: string;
  intervalMs: number;
  maxWalBytes: number;
  passiveIntervalMs?: number;
};
/** PASSIVE runs every this many ticks; the size bound is checked on every tick. */
const passiveEvery = Math.max(1, Math.round((passiveIntervalMs ?? intervalMs) / intervalMs));
let tick = 0;
const require = createRequire(import.meta.url);
const Sqlite = require('better-sqlite3') as typeof BetterSqlite3;
const db = new Sqlite(path);
db.pragma('busy_timeout = 5000');

function walBytes(): number {
  try {
    return statSync(`${path}-wal`).size;
  } catch {
    return 0;
  }
}

const timer = setInterval(() => {
  try {
    // PASSIVE copies what it can without waiting for anyone. Under steady writes it never reaches the end of the
    // log, so the log would only grow: past the bound, TRUNCATE waits for a gap between commits (a short pause for
    // the writer) and empties it.
    tick += 1;
    if (walBytes() > maxWalBytes) db.pragma('wal_checkpoint(TRUNCATE)');
    else if (tick % passiveEvery === 0) db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy or locked: the next round catches up.
  }
}, intervalMs);

parentPort?.on('message', (message) => {
  if (message === 'stop') {
    clearInterval(timer);
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // The main connection checkpoints when it closes.
    } finally {
      db.close();
      parentPort?.postMessage('stopped');
    }
  }
});
