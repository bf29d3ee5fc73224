import { arg, command, flag, withHandler } from '../../declare.js';

/** `lumen events …`: what each verb takes. The handlers are the files next to this one. */

export const list = command({
  name: 'list',
  description: 'deliveries to your code, newest first: messages, other events (ev_N) and raw deliveries (raw_N)',
  flags: {
    failed: flag.boolean('--failed', 'only those still failing (being retried)'),
    limit: flag.string('--limit <n>', 'at most this many', { default: '20' }),
  },
  help: '\nExample:\n  $ lumen events list --failed',
});

export const replay = command({
  name: 'replay',
  description: 'deliver an event again: now to the target you give, or queued for the running relay',
  args: [arg('<id>', 'event id from `lumen events list`: 42 (a message), ev_N (an --events document), raw_N (--forward-raw)')],
  flags: {
    forwardTo: flag.string('--forward-to <url>', 'deliver it now to this URL'),
    exec: flag.string('--exec <command>', 'deliver it now to this command'),
  },
  help: '\nExample:\n  $ lumen events replay 42 --forward-to http://localhost:3000/hook',
});

export const tail = command({
  name: 'tail',
  description: "follow the running relay's events from another terminal (one line each, or NDJSON with --json)",
  help: '\nExamples:\n  $ lumen events tail\n  $ lumen events tail --json | jq .',
});

export const drop = command({
  name: 'drop',
  description: 'give up a delivery that will never succeed: it is not attempted again (unless replayed)',
  args: [arg('<id>', 'event id from `lumen events list`: 42 (a message), ev_N (an --events document), raw_N (--forward-raw)')],
  help: '\nExamples:\n  $ lumen events drop 42\n  $ lumen events drop ev_7       # a status your code keeps refusing',
});

export const verbs = [
  withHandler(list, () => import('./list.js')),
  withHandler(replay, () => import('./replay.js')),
  withHandler(tail, () => import('./tail.js')),
  withHandler(drop, () => import('./drop.js')),
];
