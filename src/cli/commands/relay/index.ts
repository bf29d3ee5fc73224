import { command, flag, withHandler } from '../../declare.js';

/** `lumen relay …`: what each verb takes. The handlers are the files next to this one. */

export const start = command({
  name: 'start',
  description: "answer Meta's webhooks: verify every signature, store each message before acknowledging, hand it to your code",
  flags: {
    host: flag.string('--host <host>', 'address to listen on', { default: '127.0.0.1' }),
    port: flag.string('--port <port>', 'port to listen on (0 picks a free one)', { default: '8787' }),
    publicUrl: flag.string('--public-url <url>', 'public base URL that reaches this relay (your tunnel): lumen registers its Callback URL with Meta'),
    register: flag.negatable('--no-register', 'do not register the Callback URL with Meta (paste it in the App Dashboard yourself)'),
    callbackScope: flag.string('--callback-scope <scope>', "whose Callback URL to set: phone (the number's override) or waba", {
      default: 'phone',
    }),
    tunnel: flag.string('--tunnel <provider>', 'start a tunnel: cloudflared or ngrok (must be installed)'),
    forwardTo: flag.string('--forward-to <url>', 'POST each inbound message as JSON to this URL (signed, retried until it answers 2xx)'),
    exec: flag.string('--exec <command>', 'run this command for each inbound message, with its JSON on stdin (retried on failure)'),
    autoReply: flag.optionalValue('--auto-reply [text]', 'reply to each inbound message with this text (without text: what --exec prints)'),
    rateLimit: flag.string('--rate-limit <n>', 'webhook POSTs per second per number before 429 (0 = off)', { default: '4000' }),
    workspaceRateLimit: flag.string('--workspace-rate-limit <n>', 'webhook POSTs per second per workspace (0 = off)', {
      default: '8000',
    }),
    trustProxy: flag.variadic(
      '--trust-proxy <address...>',
      "believe X-Forwarded-For from this proxy's IP address or subnet (the tunnel lumen starts is trusted already)",
    ),
    markRead: flag.boolean('--mark-read', 'mark each inbound message read (blue ticks) once it is stored'),
    typing: flag.boolean('--typing', 'show the typing indicator (and mark it read) while your code works on a message'),
    mediaMaxBytes: flag.string('--media-max-bytes <n>', 'refuse inbound media files larger than this', { default: String(100 * 1024 * 1024) }),
    events: flag.string(
      '--events <list>',
      'what your code gets: messages, statuses, templates, account, preferences, echoes, edits (comma-separated) or all',
      { default: 'messages', env: 'LUMEN_RELAY_EVENTS' },
    ),
    forwardRaw: flag.boolean('--forward-raw', "hand on Meta's exact body with Meta's own X-Hub-Signature-256 (for a bot written for Meta's webhooks)"),
    quiet: flag.boolean('--quiet', 'print only where the relay listens, errors and shutdown (no line per event)'),
    logFile: flag.string('--log-file <file>', 'write the output to this file instead of stdout, rotated by size (FILE.1 … FILE.5)'),
    logMaxBytes: flag.string('--log-max-bytes <n>', 'rotate --log-file when it would grow past this many bytes', { default: String(10 * 1024 * 1024) }),
    metricsHost: flag.variadic(
      '--metrics-host <address...>',
      'also answer GET /metrics to these client addresses (`any` for everyone); by default only this machine, never through a tunnel',
    ),
  },
  help:
    '\nExamples:\n  $ lumen relay start --tunnel cloudflared --forward-to http://localhost:3000/hook\n' +
    '  $ lumen relay start --exec "node bot.js" --auto-reply\n  $ lumen relay start --port 0 --json\n' +
    '  $ lumen relay start --forward-to http://localhost:3000/hook --events messages,statuses,templates\n' +
    '  $ lumen relay start --forward-to http://localhost:8080/ --forward-raw   # a pywa or whatsapp-api-js bot, unchanged\n' +
    '  $ lumen relay start --forward-to http://localhost:3000/hook --log-file ~/lumen-relay.log\n\n' +
    'Besides the webhooks it serves GET /healthz (alive), GET /readyz (503 with the reasons when the database cannot be\n' +
    'written or a number\'s secrets cannot be read) and GET /metrics (Prometheus text; this machine only unless\n' +
    '--metrics-host). The "retention" setting of config.json (e.g. "90d") purges older data at start and daily.',
});

export const status = command({
  name: 'status',
  description: 'is a relay running here, and where',
  help: '\nExample:\n  $ lumen relay status --json',
});

export const stop = command({
  name: 'stop',
  description: 'stop the relay running for this LUMEN_HOME, gracefully (it finishes what is in flight), and wait for it to exit',
  flags: {
    timeout: flag.string('--timeout <seconds>', 'give up waiting after this long (the relay keeps stopping)', { default: '60' }),
  },
  help: '\nExamples:\n  $ lumen relay stop\n  $ lumen relay stop --json',
});

export const installService = command({
  name: 'install-service',
  description: 'run the relay as a service: a systemd user unit (Linux) or a launchd agent (macOS) with these relay start flags',
  flags: {
    ...start.flags,
    platform: flag.string('--platform <kind>', 'systemd or launchd (default: this system\'s)'),
    force: flag.boolean('--force', 'replace a service file that exists already'),
  },
  help:
    '\nExamples:\n  $ lumen relay install-service --tunnel cloudflared --forward-to http://localhost:3000/hook\n' +
    '  $ lumen relay install-service --exec "node bot.js" --log-file ~/lumen-relay.log\n\n' +
    'It writes the file and prints how to start the service and read its logs; it starts nothing itself. Secrets are\n' +
    'never written into it: the relay reads them from the keychain or the encrypted secrets file as usual.',
});

export const uninstallService = command({
  name: 'uninstall-service',
  description: 'remove the service file install-service wrote (stop the service first)',
  flags: {
    platform: flag.string('--platform <kind>', 'systemd or launchd (default: this system\'s)'),
  },
  help: '\nExample:\n  $ lumen relay uninstall-service',
});

export const verbs = [
  withHandler(start, () => import('./start.js')),
  withHandler(status, () => import('./status.js')),
  withHandler(stop, () => import('./stop.js')),
  withHandler(installService, () => import('./install-service.js')),
  withHandler(uninstallService, () => import('./uninstall-service.js')),
];
