import { command, withHandler } from '../../declare.js';

/** `lumen workspaces …`: what each verb takes. The handlers are the files next to this one. */

export const list = command({
  name: 'list',
  description: 'the workspaces in this LUMEN_HOME, with how many numbers each has connected',
  help: '\nExample:\n  $ lumen workspaces list --json',
});

export const verbs = [withHandler(list, () => import('./list.js'))];
