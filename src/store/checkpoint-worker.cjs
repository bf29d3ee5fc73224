// The thread behind checkpointInBackground (checkpoints.ts): its own connection to the database, copying the WAL into
// the database file while the main thread goes on committing. Plain CommonJS, so the same file runs from src/ (the
// tests) and from dist/ (copied there by the build).
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const Sqlite = require(workerData.sqlite);

/** Between passes. */
const PASS_MS = 100;
/** Once the WAL holds this many frames, the thread makes SQLite start it again from the top (see below). */
const restartFrames = workerData.restartFrames;
/** Frames a pass may leave behind and the thread still try the short FULL checkpoint right after it. */
const CATCH_UP_FRAMES = 256;

// No busy handler: a checkpoint that meets a writer gives way at once instead of sleeping with the write lock held.
const db = new Sqlite(workerData.path, { timeout: 0 });
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const full = db.prepare('PRAGMA wal_checkpoint(FULL)');

let timer;
let stopped = false;
function run() {
  let next = PASS_MS;
  try {
    // PASSIVE copies what no reader still needs and never blocks the writer: the bulk of the work, off the event loop.
    const { log, checkpointed } = passive.get();
    // SQLite starts the WAL from the top only when a write begins after a checkpoint copied all of it, which a pass
    // racing a busy writer never does: left alone the file grows by every page written (1 GiB in a bench round). So
    // past the limit, once a pass has nearly caught up, a FULL checkpoint takes the write lock for the few frames
    // left (without a busy handler it does not wait for it), and the writer's next commit starts the WAL again.
    if (log >= restartFrames) {
      if (log - checkpointed > CATCH_UP_FRAMES) next = 0;
      else if (full.get().busy) next = 1;
    }
  } catch {
    // A full disk or an I/O error: the pages stay in the WAL (still durable) and the next pass tries again.
  }
  if (!stopped) timer = setTimeout(run, next);
}
run();

parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  stopped = true;
  clearTimeout(timer);
  db.close();
  parentPort.close();
});
