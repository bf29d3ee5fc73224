import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Database } from './db.js';

/** SQLite's own default: a checkpoint once the WAL holds this many pages (restored if the thread goes away). */
const INLINE_CHECKPOINT_PAGES = 1000;
/** The thread starts the WAL again from the top past this many frames: 64 MiB of 4 KiB pages (journal_size_limit). */
const RESTART_FRAMES = 16_384;

export interface BackgroundCheckpoints {
  /** Stops the thread and closes its connection (before the main connection closes, so that one checkpoints last). */
  stop(): Promise<void>;
}

/**
 * A busy writer (the relay) checkpoints in a thread of its own. With SQLite's default the commit that crosses 1,000
 * WAL pages copies them into the database file and syncs it, on the event loop: that commit's requests wait, and it
 * was the p99. Here a worker thread with its own connection runs a PASSIVE checkpoint (it never blocks a writer)
 * every 100 ms, and past `restartFrames` a short FULL one so that SQLite starts the WAL again from the top
 * (checkpoint-worker.cjs): the WAL file stays within about 64 MiB. The FULL needs a moment without a writer, which a
 * writer that never pauses may not leave it for long; so at twice the limit the main connection's own commit
 * checkpoints (SQLite's autocheckpoint, a PASSIVE one that only copies what the thread has not, and the next commit
 * starts the WAL again): at most about 128 MiB, and without bound only while a reader holds an old snapshot, as with
 * SQLite's default. If the thread ends (it cannot open the database, or its checkpoints keep failing), the main
 * connection checkpoints inline at SQLite's default again.
 */
export function checkpointInBackground(
  db: Database,
  path: string,
  { restartFrames = RESTART_FRAMES }: { restartFrames?: number } = {},
): BackgroundCheckpoints {
  db.pragma(`wal_autocheckpoint = ${2 * restartFrames}`);
  const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(new URL('./checkpoint-worker.cjs', import.meta.url), {
    workerData: { path, sqlite, restartFrames },
  });
  worker.unref();
  let stopping = false;
  const exited = new Promise<void>((resolve) => {
    worker.once('exit', () => {
      if (!stopping && db.open) db.pragma(`wal_autocheckpoint = ${INLINE_CHECKPOINT_PAGES}`);
      resolve();
    });
  });
  // An error ends the thread ('exit' follows); the main connection has taken over by then.
  worker.on('error', () => undefined);
  return {
    async stop() {
      stopping = true;
      // Unreferenced, the thread would not keep the process alive until its exit: a command ending in an error would
      // then end while it waits here, with no exit code.
      worker.ref();
      worker.postMessage('stop');
      await exited;
      if (db.open) db.pragma(`wal_autocheckpoint = ${INLINE_CHECKPOINT_PAGES}`);
    },
  };
}
