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
/** The thread tries the FULL checkpoint only after a pass that copied and left at most this many frames. */
const CAUGHT_UP_FRAMES = 64;

// No busy handler: a checkpoint that meets a writer gives way at once instead of sleeping with the write lock held.
const db = new Sqlite(workerData.path, { timeout: 0 });
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const full = db.prepare('PRAGMA wal_checkpoint(FULL)');

/** Failed passes in a row (5 s of them) after which the thread gives up: the writer then checkpoints inline again. */
const MAX_FAILURES = 50;

let timer;
let stopped = false;
let lastCheckpointed = 0;
let retryMs = 1;
let failures = 0;
function run() {
  let next = PASS_MS;
  try {
    // PASSIVE copies what no reader still needs and never blocks the writer: the bulk of the work, off the event loop.
    // Both counts are -1 when another connection was checkpointing at the time.
    const { log, checkpointed } = passive.get();
    const copied = checkpointed >= lastCheckpointed ? checkpointed - lastCheckpointed : Math.max(checkpointed, 0);
    if (checkpointed >= 0) lastCheckpointed = checkpointed;
    // SQLite starts the WAL from the top only when a write begins after a checkpoint copied all of it, which a pass
    // racing a busy writer never does: left alone the file grows by every page written (1 GiB in a bench round). So
    // past the limit a FULL checkpoint takes the write lock (without a busy handler it does not wait for it) and
    // copies the rest; the writer's next commit starts the WAL again. The writer waits meanwhile, so passes follow
    // each other first until one finds little to do: then little was written since the last one synced the WAL, and
    // the FULL holds the lock for about 10 ms instead of 50. A writer too busy for that checkpoints on its own commit
    // at twice the limit (its autocheckpoint, checkpoints.ts).
    if (log >= restartFrames) {
      const caughtUp = log - checkpointed <= CAUGHT_UP_FRAMES && copied <= CAUGHT_UP_FRAMES;
      if (!caughtUp) {
        // A pass that copied nothing is held up by a reader (`lumen export` streaming, a backup): the next one waits.
        if (copied > 0) next = 0;
      } else if (full.get().busy) {
        // The writer or a reader was in the way: again soon, then less and less often while it stays so.
        next = retryMs;
        retryMs = Math.min(retryMs * 2, PASS_MS);
      } else {
        retryMs = 1;
      }
    }
    failures = 0;
  } catch (error) {
    // A full disk or an I/O error: the pages stay in the WAL (still durable) and the next pass tries again. An error
    // that does not go away ends the thread, and the writer's own checkpoints take over (checkpoints.ts).
    failures += 1;
    if (failures >= MAX_FAILURES) throw error;
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
