import { command, withHandler } from '../../declare.js';

/** `lumen db …`: what each verb takes. The handlers are the files next to this one. */

export const status = command({
  name: 'status',
  description: 'which database holds the state (SQLite file or PostgreSQL), its schema version and pending migrations',
  help: '\nExamples:\n  $ lumen db status\n  $ LUMEN_DATABASE_URL=postgres://lumen@db.internal/lumen lumen db status --json\n\nIt only looks: nothing is migrated.',
});

export const migrate = command({
  name: 'migrate',
  description: 'apply pending migrations now (every command also does at open) and say which',
  help:
    '\nExamples:\n  $ lumen db migrate\n  $ lumen db migrate --json\n\n' +
    'On PostgreSQL, migrations run in one transaction under an advisory lock: hosts starting at once migrate once.\n' +
    'Run it once after upgrading lumen, before the relays start on the new version.',
});

export const verbs = [withHandler(status, () => import('./status.js')), withHandler(migrate, () => import('./migrate.js'))];
