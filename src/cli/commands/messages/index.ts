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

export const purge = command({
  name: 'purge',
  description: "delete what is older than an age: messages (with their raw payloads), statuses, media files; never one not yet handed to your code",
  flags: {
    olderThan: flag.string('--older-than <age>', 'delete what is older than this: 90d, 12w, 36h, 30m'),
    dryRun: flag.boolean('--dry-run', 'count what would be deleted; delete nothing'),
  },
  help:
    '\nExamples:\n  $ lumen messages purge --older-than 90d --dry-run\n  $ lumen messages purge --older-than 90d --json\n\n' +
    'In this workspace: inbound messages (their raw payloads and finished deliveries), sent messages that are settled,\n' +
    "status webhooks, Meta's webhook errors, media records and their files, and senders with nothing newer. An\n" +
    'inbound message whose delivery to your code is still pending or retrying is kept, however old. The "retention"\n' +
    'setting of config.json makes the relay do this daily for every workspace.',
});

export const exportMessages = command({
  name: 'export',
  description: 'write the stored inbound messages, oldest first, as CSV or NDJSON',
  flags: {
    format: flag.string('--format <format>', 'csv or ndjson (one message a line, raw payload included)', { default: 'ndjson' }),
    since: flag.string('--since <duration>', 'only newer than this: 30m, 1h, 2d, or an ISO date'),
    from: flag.string('--from <number>', 'only from this sender (phone number or user id)'),
    output: flag.string('-o, --output <file>', 'write to this file instead of stdout (a new file, unless --force)'),
    force: flag.boolean('--force', 'replace the --output file if it exists'),
  },
  help: '\nExamples:\n  $ lumen messages export --format csv --since 30d --output march.csv\n  $ lumen messages export --from +15551234567 | jq .text',
});

export const verbs = [
  withHandler(list, () => import('./list.js')),
  withHandler(show, () => import('./show.js')),
  withHandler(read, () => import('./read.js')),
  withHandler(purge, () => import('./purge.js')),
  withHandler(exportMessages, () => import('./export.js')),
];
