import { arg, command, flag, withHandler } from '../../declare.js';

/** `lumen messages …`: what each verb takes. The handlers are the files next to this one. */

export const list = command({
  name: 'list',
  description: 'messages received and sent, newest first',
  flags: {
    direction: flag.string('--direction <in|out>', 'only received (in) or only sent (out) messages; default both'),
    from: flag.string('--from <number>', 'only received from this sender (phone number or user id)'),
    to: flag.string('--to <number>', 'only sent to this recipient (phone number or user id)'),
    since: flag.string('--since <duration>', 'only newer than this: 30m, 1h, 2d, or an ISO date'),
    limit: flag.string('--limit <n>', 'at most this many', { default: '20' }),
  },
  help: '\nExamples:\n  $ lumen messages list --since 1h --json\n  $ lumen messages list --direction out --limit 50\n  $ lumen messages list --from +15551234567',
});

export const show = command({
  name: 'show',
  description: 'one message: a sent one (msg_… or its wamid) with its delivery timeline, or a received one (in_… or its wamid)',
  args: [arg('<id>', 'message id (msg_… or in_…) or wamid')],
  help: '\nExamples:\n  $ lumen messages show msg_0123456789abcdef01234567 --json\n  $ lumen messages show in_42',
});

export const read = command({
  name: 'read',
  description: 'mark a received message read (blue ticks), optionally showing the typing indicator',
  args: [arg('<wamid>', 'the wamid of a message lumen received (or its in_… id)')],
  flags: {
    typing: flag.boolean('--typing', 'also show the typing indicator, while you prepare the answer (Meta ends it when you reply, or after 25 s)'),
  },
  help: '\nExample:\n  $ lumen messages read wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBQz --typing',
});

export const verbs = [
  withHandler(list, () => import('./list.js')),
  withHandler(show, () => import('./show.js')),
  withHandler(read, () => import('./read.js')),
];
