import { openPgDatabase, type OpenPgOptions, type PgDatabase } from './db.js';
import { createConsoleRepo } from './repos/console.js';
import { createDispatchRepo } from './repos/dispatch.js';
import { createFactsRepo } from './repos/facts.js';
import { createForwardQueueRepo } from './repos/forward-queue.js';
import { createInboxRepo } from './repos/inbox.js';
import { createIntegrationRepo } from './repos/integrations.js';
import { createMaintenanceRepo } from './repos/maintenance.js';
import { createMediaRepo } from './repos/media.js';
import { createOutboundRepo } from './repos/outbound.js';
import { createSendSlotRepo } from './repos/send-slots.js';
import { createTemplateRepo } from './repos/templates.js';
import { createWorkspaceRepo } from './repos/workspaces.js';
import type { Store } from '../types.js';

export function pgStore(db: PgDatabase): Store {
  return {
    backend: 'postgres',
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
    async quickCheck() {
      // The server checks its own pages; a round trip through the schema is what lumen can check.
      await db.get('SELECT 1 FROM lumen_migrations LIMIT 1');
      return 'ok';
    },
    close: () => db.close(),
  };
}

/** Opens the PostgreSQL store at `url` (migrating it unless told not to). */
export async function openPgStore(url: string, options: OpenPgOptions = {}): Promise<Store> {
  return pgStore(await openPgDatabase(url, options));
}
