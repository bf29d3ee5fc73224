import { arg, command } from '../../declare.js';

/** `lumen backup FILE`: what it takes. The handler is backup.ts. */
export const backup = command({
  name: 'backup',
  description: "copy the database to FILE with SQLite's online backup (safe while the relay runs)",
  args: [arg('<file>', 'where the copy goes (must not exist)')],
  help:
    '\nExamples:\n  $ lumen backup ~/backups/lumen-$(date +%F).db\n  $ lumen backup /mnt/backup/lumen.db --json\n\n' +
    'The copy is one consistent moment of the database (messages, deliveries, sent messages, templates, settings).\n' +
    'Secrets are not in it: they stay in the keychain or the encrypted secrets file (back that up separately).\n' +
    'To restore, stop the relay and put the copy in place of lumen.db in LUMEN_HOME.',
});
