import { command, flag, withHandler } from '../../declare.js';

/** `lumen secrets …`: what each verb takes. The handlers are the files next to this one. */

export const status = command({
  name: 'status',
  description: 'where the secrets are kept; with LUMEN_SECRET_STORE=database, the key id and how many secrets each key holds',
  help: '\nExamples:\n  $ lumen secrets status\n  $ lumen secrets status --json\n\nNo secret is ever printed.',
});

export const rotateKey = command({
  name: 'rotate-key',
  description: 're-encrypt the secrets (in the database, or the encrypted file) from the previous key to LUMEN_MASTER_KEY, all at once',
  flags: {
    previousKeyEnv: flag.string('--previous-key-env <name>', 'the environment variable holding the previous passphrase', {
      default: 'LUMEN_PREVIOUS_MASTER_KEY',
    }),
  },
  help:
    '\nExample:\n' +
    '  $ LUMEN_PREVIOUS_MASTER_KEY="$OLD" LUMEN_MASTER_KEY="$NEW" lumen secrets rotate-key\n\n' +
    'Passphrases come from the environment, never from flags (they would stay in the shell history).\n' +
    'Secrets already under the new key are left as they are: running it again does nothing. Afterwards give every\n' +
    'host the new LUMEN_MASTER_KEY; until then, those with the old one are told which key id the secrets are under.\n' +
    'With the encrypted file (no LUMEN_SECRET_STORE=database) it is re-written under LUMEN_MASTER_KEY in one write,\n' +
    'read with the previous passphrase or, without one, with its key file.',
});

export const verbs = [withHandler(status, () => import('./status.js')), withHandler(rotateKey, () => import('./rotate-key.js'))];
