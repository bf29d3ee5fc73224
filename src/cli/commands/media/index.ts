import { arg, command, flag, withHandler } from '../../declare.js';

/** `lumen media …`: what each verb takes. The handlers are the files next to this one. */

export const list = command({
  name: 'list',
  description: 'media files of the workspace (received by the relay, or uploaded to send), newest first',
  flags: {
    limit: flag.string('--limit <n>', 'at most this many', { default: '20' }),
  },
  help: '\nExample:\n  $ lumen media list --limit 5 --json',
});

export const get = command({
  name: 'get',
  description: 'save a media file: the stored copy, or (not stored yet) fetched now through the Graph API',
  args: [arg('<id>', 'the media id, or the id of the message it came with (in_…)')],
  flags: {
    output: flag.string('-o, --output <file>', 'write it to this file (or into this folder), or - for stdout (default: <sha256>.<ext> in the current folder)'),
    force: flag.boolean('--force', 'replace the file if it exists'),
  },
  help: '\nExamples:\n  $ lumen media get in_42                 # the picture in message in_42, saved here\n  $ lumen media get 1234567890123456 -o receipt.png\n  $ lumen media get in_42 -o - | file -',
});

export const verbs = [withHandler(list, () => import('./list.js')), withHandler(get, () => import('./get.js'))];
