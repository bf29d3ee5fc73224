import { arg, command, flag, withHandler } from '../../declare.js';

/** `lumen templates …`: what each verb takes. The handlers are the files next to this one. */

const integration = flag.string('--integration <id>', 'which integration, when several are connected');

export const sync = command({
  name: 'sync',
  description: 'fetch every template from the Graph API (all pages) and store them locally',
  flags: { integration },
  help: '\nExample:\n  $ lumen templates sync',
});

export const list = command({
  name: 'list',
  description: 'list the synced templates',
  flags: {
    status: flag.string('--status <status>', 'only templates with this status (APPROVED, PENDING, REJECTED, …)'),
    integration,
  },
  help: '\nExample:\n  $ lumen templates list --status APPROVED',
});

export const show = command({
  name: 'show',
  description: "show a template's components and the parameters a send must supply",
  args: [arg('<name>', 'template name')],
  flags: {
    lang: flag.string('--lang <code>', 'language code, e.g. en_US (needed when the template has several)'),
    integration,
  },
  help: '\nExample:\n  $ lumen templates show order_update --lang en_US',
});

export const verbs = [
  withHandler(sync, () => import('./sync.js')),
  withHandler(list, () => import('./list.js')),
  withHandler(show, () => import('./show.js')),
];
