/**
 * The store contract runs against both backends: SQLite (a file in a temp folder) always, PostgreSQL (a fresh
 * database on the run's test server, test/global-postgres.ts) where it can start, else skipped with the reason in
 * the test's name. Use with `describe.each(storeBackends())`, calling `backend.open()` per test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStoreAt, type StoreLocation } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { freshDatabase, postgres } from './postgres.js';

export interface OpenedStore {
  store: Store;
  /** Where it is: open a second store on it (another process or host would) with `openStoreAt(location)`. */
  location: StoreLocation;
  /** Another connection to the same database, closed by cleanup. */
  another(): Promise<Store>;
  /** Closes every store opened here and removes the database. */
  cleanup(): Promise<void>;
}

export interface StoreBackend {
  name: 'sqlite' | 'postgres';
  /** Why this backend's tests skip, or false. */
  skip: string | false;
  /** The describe title: the backend, and the skip reason when there is one. */
  title: string;
  open(): Promise<OpenedStore>;
}

async function track(location: StoreLocation, drop: () => Promise<void>): Promise<OpenedStore> {
  const opened: Store[] = [];
  const open = async () => {
    const store = await openStoreAt(location);
    opened.push(store);
    return store;
  };
  const store = await open();
  return {
    store,
    location,
    another: open,
    async cleanup() {
      for (const s of opened.splice(0)) await s.close().catch(() => {});
      await drop();
    },
  };
}

export function sqliteBackend(): StoreBackend {
  return {
    name: 'sqlite',
    skip: false,
    title: 'sqlite',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'lumen-store-'));
      return track({ databasePath: join(dir, 'lumen.db') }, async () => rmSync(dir, { recursive: true, force: true }));
    },
  };
}

export function postgresBackend(): StoreBackend {
  const { skip } = postgres();
  return {
    name: 'postgres',
    skip,
    title: skip ? `postgres (${skip})` : 'postgres',
    async open() {
      const database = await freshDatabase();
      return track({ databasePath: '/nonexistent/lumen.db', databaseUrl: database.url }, () => database.drop());
    },
  };
}

export function storeBackends(): StoreBackend[] {
  return [sqliteBackend(), postgresBackend()];
}
