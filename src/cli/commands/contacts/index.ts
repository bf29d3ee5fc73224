import { command, withHandler } from '../../declare.js';

/** `lumen contacts …`: what each verb takes. The handlers are the files next to this one. */

export const list = command({
  name: 'list',
  description: 'senders with their name, last message and whether the 24-hour window is open',
  help: '\nExample:\n  $ lumen contacts list --json',
});

export const verbs = [withHandler(list, () => import('./list.js'))];
