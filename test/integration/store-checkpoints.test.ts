/**
 * The relay's store checkpoints in a thread of its own: the main connection never copies the WAL into the database
 * file (that commit's requests would wait), the thread does, it has SQLite start the WAL again once it is long, and
 * on close the WAL goes as it always has.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkpointInBackground } from '../../src/store/checkpoints.js';
import { openDatabase } from '../../src/store/db.js';
import { openStore } from '../../src/store/index.js';
import { eventually } from '../helpers/async.js';
import { makeHome, type LumenHome } from '../helpers/home.js';
import { textJob } from '../helpers/inbox.js';

let home: LumenHome;
beforeEach(() => {
  home = makeHome();
});
afterEach(() => home.cleanup());

/** About 6 MiB of messages: well past the 1,000 WAL pages (4 MiB) at which a connection would checkpoint inline. */
async function writeMessages(store: ReturnType<typeof openStore>, count = 3000): Promise<void> {
  const text = 'x'.repeat(2000);
  for (let batch = 0; batch < count / 100; batch += 1) {
    const job = textJob('wa_1', ...Array.from({ length: 100 }, (_, i) => `wamid.ckpt${batch}_${i}`));
    for (const message of job.messages) message.text = text;
    await store.inbox.ingest([job]);
  }
}

/** The WAL header's checkpoint sequence number (offset 12, big-endian): one more each time SQLite restarts the WAL. */
function walCheckpointSequence(path: string): number {
  const fd = openSync(`${path}-wal`, 'r');
  try {
    const header = Buffer.alloc(16);
    readSync(fd, header, 0, 16, 0);
    return header.readUInt32BE(12);
  } finally {
    closeSync(fd);
  }
}

describe('background checkpoints', () => {
  it('copy the WAL into the database file from their own thread while the store writes', async () => {
    // Given the relay's store
    const path = home.path('lumen.db');
    const store = openStore(path, { checkpointInBackground: true });
    const before = statSync(path).size;
    // When it writes 6 MiB of messages
    await writeMessages(store);
    // Then the pages reach the database file without the writer checkpointing
    await eventually(() => expect(statSync(path).size - before).toBeGreaterThan(5 * 1024 * 1024));
    expect((await store.inbox.findByWamid('wa_1', 'wamid.ckpt29_99'))?.text).toHaveLength(2000);
    // And closing stops the thread first, so the last connection checkpoints and removes the WAL
    await store.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
    const reopened = openStore(path);
    expect((await reopened.inbox.findByWamid('wa_1', 'wamid.ckpt0_0'))?.wamid).toBe('wamid.ckpt0_0');
    await reopened.close();
  });

  it('have SQLite start the WAL again from the top once it is long, while the writer never stops', async () => {
    // Given a writer whose thread restarts the WAL past 256 frames (1 MiB)
    const path = home.path('lumen.db');
    const db = openDatabase(path);
    const checkpoints = checkpointInBackground(db, path, { restartFrames: 256 });
    const insert = db.prepare('INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)');
    let rows = 0;
    const write = (count: number) =>
      db.transaction(() => {
        for (let i = 0; i < count; i += 1, rows += 1) {
          insert.run(`ws_${rows}`, `${rows}`.padEnd(1500, 'n'), '2026-01-01T00:00:00.000Z');
        }
      })();
    write(1);
    const first = walCheckpointSequence(path);
    // When it commits back to back, never leaving the thread a moment without a writer (a busy relay), up to 16 MiB
    while (walCheckpointSequence(path) === first && rows * 1500 < 16 * 1024 * 1024) write(20);
    // Then a commit began after a complete checkpoint: SQLite started the WAL again (the header's sequence moved on)
    // within a few MiB. A thread running only PASSIVE checkpoints never gets there: each one races the writer; and
    // its FULL one may not find the writer's lock free for a long while, so at twice the limit (2 MiB here) the
    // writer's own commit copies what is left.
    expect(walCheckpointSequence(path)).toBeGreaterThan(first);
    expect(rows * 1500).toBeLessThan(16 * 1024 * 1024);
    // And nothing written is lost
    expect(db.prepare('SELECT count(*) FROM workspaces WHERE id LIKE ?').pluck().get('ws_%')).toBe(rows);
    await checkpoints.stop();
    db.close();
  });

  it('leave the connection only its own checkpoint at twice the limit until they stop, and the thread copies the pages', async () => {
    const path = home.path('lumen.db');
    const db = openDatabase(path);
    const checkpoints = checkpointInBackground(db, path);
    // 32,768 pages (128 MiB): twice the 16,384 past which the thread starts the WAL again
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(32_768);
    const insert = db.prepare('INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)');
    const before = statSync(path).size;
    db.transaction(() => {
      for (let i = 0; i < 4000; i += 1) insert.run(`ws_${i}`, `${i}`.padEnd(1500, 'n'), '2026-01-01T00:00:00.000Z');
    })();
    await eventually(() => expect(statSync(path).size - before).toBeGreaterThan(5 * 1024 * 1024));
    await checkpoints.stop();
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    db.close();
  });

  it('hand checkpointing back to the connection when the thread ends (here: it cannot open the database)', async () => {
    const path = home.path('lumen.db');
    const db = openDatabase(path);
    const checkpoints = checkpointInBackground(db, home.path('no-such-folder', 'lumen.db'));
    await eventually(() => expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000));
    await checkpoints.stop();
    db.close();
  });

  it('leave a store without them checkpointing inline, as SQLite does by default', async () => {
    const path = home.path('lumen.db');
    const store = openStore(path);
    await writeMessages(store);
    // The writer's own commits copied the pages (SQLite's 1,000-page autocheckpoint).
    expect(statSync(path).size).toBeGreaterThan(4 * 1024 * 1024);
    await store.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
  });
});
