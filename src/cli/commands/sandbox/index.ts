import { command, flag, withHandler } from '../../declare.js';

/** `lumen sandbox …`: what each verb takes. The handlers are the files next to this one. */

export const start = command({
  name: 'start',
  description: 'run the emulator in the foreground and print the LUMEN_GRAPH_URL to use',
  flags: {
    port: flag.string('--port <port>', 'port to listen on (0 picks a free one)', { default: '8788' }),
    host: flag.string('--host <host>', 'address to listen on', { default: '127.0.0.1' }),
    webhookUrl: flag.string('--webhook-url <url>', 'post signed webhooks here: statuses after each send, inbound messages on request'),
    appSecret: flag.string('--app-secret <secret>', "the app secret that signs webhooks (default: the sandbox's own)"),
  },
  help:
    '\nExamples:\n  $ lumen sandbox start --port 8788\n  $ lumen sandbox start --webhook-url http://127.0.0.1:8787/webhooks/whatsapp/wa_…',
});

export const verbs = [withHandler(start, () => import('./start.js'))];
