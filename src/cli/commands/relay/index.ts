import { command, flag, withHandler } from '../../declare.js';

/** `lumen relay …`: what each verb takes. The handlers are the files next to this one. */

export const start = command({
  name: 'start',
  description: "answer Meta's webhooks: verify every signature, store each message before acknowledging, hand it to your code",
  flags: {
    host: flag.string('--host <host>', 'address to listen on', { default: '127.0.0.1' }),
    port: flag.string('--port <port>', 'port to listen on (0 picks a free one)', { default: '8787' }),
    publicUrl: flag.string('--public-url <url>', 'public base URL that reaches this relay (your tunnel), to print the Callback URL'),
    tunnel: flag.string('--tunnel <provider>', 'start a tunnel: cloudflared or ngrok (must be installed)'),
    forwardTo: flag.string('--forward-to <url>', 'POST each inbound message as JSON to this URL (signed, retried until it answers 2xx)'),
    exec: flag.string('--exec <command>', 'run this command for each inbound message, with its JSON on stdin (retried on failure)'),
    autoReply: flag.optionalValue('--auto-reply [text]', 'reply to each inbound message with this text (without text: what --exec prints)'),
    rateLimit: flag.string('--rate-limit <n>', 'webhook POSTs per second per number before 429 (0 = off)', { default: '1000' }),
    workspaceRateLimit: flag.string('--workspace-rate-limit <n>', 'webhook POSTs per second per workspace (0 = off)', {
      default: '2000',
    }),
    trustProxy: flag.variadic(
      '--trust-proxy <address...>',
      "believe X-Forwarded-For from this proxy's address (the tunnel lumen starts is trusted already)",
    ),
    markRead: flag.boolean('--mark-read', 'mark each inbound message read (blue ticks) once it is stored'),
    typing: flag.boolean('--typing', 'show the typing indicator (and mark it read) while your code works on a message'),
    mediaMaxBytes: flag.string('--media-max-bytes <n>', 'refuse inbound media files larger than this', { default: String(100 * 1024 * 1024) }),
    quiet: flag.boolean('--quiet', 'print only where the relay listens, errors and shutdown (no line per event)'),
  },
  help:
    '\nExamples:\n  $ lumen relay start --tunnel cloudflared --forward-to http://localhost:3000/hook\n' +
    '  $ lumen relay start --exec "node bot.js" --auto-reply\n  $ lumen relay start --port 0 --json',
});

export const status = command({
  name: 'status',
  description: 'is a relay running here, and where',
  help: '\nExample:\n  $ lumen relay status --json',
});

export const verbs = [withHandler(start, () => import('./start.js')), withHandler(status, () => import('./status.js'))];
