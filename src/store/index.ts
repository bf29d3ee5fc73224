import { checkpointInBackground } from './checkpoints.js';
import { openDatabase } from './db.js';
import { createConsoleRepo } from './repos/console.js';
import { createDispatchRepo } from './repos/dispatch.js';
import { createFactsRepo } from './repos/facts.js';
import { createForwardQueueRepo } from './repos/forward-queue.js';
import { createInboxRepo } from './repos/inbox.js';
import { createMaintenanceRepo } from './repos/maintenance.js';
import { createMediaRepo } from './repos/media.js';
import { createOutboundRepo } from './repos/outbound.js';
import { createRelayLeaseRepo } from './repos/relay-lease.js';
import { createSendSlotRepo } from './repos/send-slots.js';
import { createIntegrationRepo } from './repos/integrations.js';
import { createTemplateRepo } from './repos/templates.js';
import { createWorkspaceRepo } from './repos/workspaces.js';
import type { Store } from './types.js';

export interface StoreOptions {
  /** A long-running writer (the relay): SQLite's checkpoints run in a thread of their own (checkpoints.ts). */
  checkpointInBackground?: boolean;
}

/** The SQLite store in one file (the default: LUMEN_HOME/lumen.db). */
export function openStore(path: string, options: StoreOptions = {}): Store {
  const db = openDatabase(path);
  const checkpoints = options.checkpointInBackground ? checkpointInBackground(db, path) : undefined;
  return {
    backend: 'sqlite',
    workspaces: createWorkspaceRepo(db),
    integrations: createIntegrationRepo(db),
    templates: createTemplateRepo(db),
    inbox: createInboxRepo(db),
    dispatch: createDispatchRepo(db),
    outbound: createOutboundRepo(db),
    sendSlots: createSendSlotRepo(db),
    media: createMediaRepo(db),
    maintenance: createMaintenanceRepo(db),
    console: createConsoleRepo(db),
    forwards: { events: createForwardQueueRepo(db, 'webhook_events'), raw: createForwardQueueRepo(db, 'raw_deliveries') },
    facts: createFactsRepo(db),
    relayLease: createRelayLeaseRepo(db),
    async quickCheck() {
      return (db.pragma('quick_check', { simple: true }) as string) ?? 'ok';
    },
    async close() {
      await checkpoints?.stop();
      db.close();
    },
  };
}

export interface StoreLocation {
  /** The SQLite file, used when there is no database URL. */
  databasePath: string;
  /** A postgres:// URL (LUMEN_DATABASE_URL or config `databaseUrl`): the state lives on that server. */
  databaseUrl?: string | undefined;
}

/** Opens whichever store the location names; PostgreSQL's driver is loaded only when it is used. */
export async function openStoreAt(location: StoreLocation, options: StoreOptions = {}): Promise<Store> {
  if (location.databaseUrl) {
    const { openPgStore } = await import('./pg/index.js');
    return openPgStore(location.databaseUrl);
  }
  return openStore(location.databasePath, options);
}
