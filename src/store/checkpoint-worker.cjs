// The thread behind checkpointInBackground (checkpoints.ts): its own connection to the database, copying the WAL into
// the database file while the main thread goes on committing. Plain CommonJS, so the same file runs from src/ (the
// tests) and from dist/ (copied there by the build).
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const Sqlite = require(workerData.sqlite);

/** Between checkpoints while the WAL is being written; an idle database is looked at less often. */
const BUSY_MS = 20;
const IDLE_MS = 100;

const db = new Sqlite(workerData.path);
db.pragma('busy_timeout = 1000');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');

let timer;
let stopped = false;
let lastLog = -1;
function run() {
  // Busy while the WAL changed since the last look (the writer appended to it, or restarted it from the top).
  let busy = true;
  try {
    const { log } = checkpoint.get();
    busy = log !== lastLog;
    lastLog = log;
  } catch {
    // A full disk or an I/O error: the pages stay in the WAL (still durable) and the next round tries again.
  }
  if (!stopped) timer = setTimeout(run, busy ? BUSY_MS : IDLE_MS);
}
run();

parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  stopped = true;
  clearTimeout(timer);
  db.close();
  parentPort.close();
});
