import { arg, command, flag, withHandler } from '../../declare.js';

/** `lumen approvals …`: what each verb takes. The handlers are the files next to this one. */

export const policy = command({
  name: 'policy',
  description: 'show or set what needs approval: none, templates, or all',
  args: [arg('[policy]', 'none | templates | all')],
  help: '\nExample:\n  $ lumen approvals policy templates',
});

export const list = command({
  name: 'list',
  description: 'messages awaiting approval',
  help: '\nExample:\n  $ lumen approvals list --json',
});

export const approve = command({
  name: 'approve',
  description: 'approve a message and send it (the template and window are checked again)',
  args: [arg('<id>', 'message id (msg_…)')],
  help: '\nExample:\n  $ lumen approvals approve msg_0123456789abcdef01234567',
});

export const reject = command({
  name: 'reject',
  description: 'reject a message; it is never sent',
  args: [arg('<id>', 'message id (msg_…)')],
  flags: { reason: flag.string('--reason <text>', 'why (recorded)') },
  help: '\nExample:\n  $ lumen approvals reject msg_0123456789abcdef01234567 --reason "wrong customer"',
});

export const verbs = [
  withHandler(policy, () => import('./policy.js')),
  withHandler(list, () => import('./list.js')),
  withHandler(approve, () => import('./approve.js')),
  withHandler(reject, () => import('./reject.js')),
];
