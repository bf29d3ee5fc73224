import { command, flag, withHandler } from '../../declare.js';

/** `lumen whatsapp …`: what each verb takes. The handlers are the files next to this one. */

const integration = flag.string('--integration <id>', 'which integration, when several are connected');

export const connect = command({
  name: 'connect',
  description: 'validate a number with the Graph API, sync its templates, store its secrets, print the webhook setup',
  flags: {
    phoneNumberId: flag.string('--phone-number-id <id>', 'the Phone number ID from WhatsApp Manager → API Setup', {
      env: 'WHATSAPP_PHONE_NUMBER_ID',
    }),
    wabaId: flag.string('--waba-id <id>', 'the WhatsApp Business Account ID', { env: 'WHATSAPP_WABA_ID' }),
    label: flag.string('--label <label>', 'a name for this connection (default: the verified business name)'),
    publicUrl: flag.string('--public-url <url>', 'public base URL of your relay (e.g. a tunnel): registered with Meta when a relay runs here'),
    callbackScope: flag.string('--callback-scope <scope>', "whose Callback URL to set: phone (the number's override) or waba", {
      default: 'phone',
    }),
    subscribe: flag.negatable('--no-subscribe', "do not subscribe the app to the WABA's webhooks"),
    yes: flag.boolean('-y, --yes', 'update an existing connection of the same number without asking'),
  },
  help:
    '\nSecrets are read from WHATSAPP_ACCESS_TOKEN and WHATSAPP_APP_SECRET, or prompted for (masked).\n\n' +
    'Example:\n  $ WHATSAPP_ACCESS_TOKEN=… WHATSAPP_APP_SECRET=… lumen whatsapp connect \\\n' +
    '      --phone-number-id 106540352242922 --waba-id 102290129340398 --label "Care line" --no-input --json',
});

export const status = command({
  name: 'status',
  description: "show connected numbers and where Meta sends their webhooks (never the verify token)",
  flags: {
    check: flag.boolean('--check', 'check with the Graph API: token, quality, templates, this app subscribed, webhooks reaching lumen'),
    integration: flag.string('--integration <id>', 'only this integration (id or phone number id)'),
  },
  help: '\nExample:\n  $ lumen whatsapp status --check --json',
});

export const rotateToken = command({
  name: 'rotate-token',
  description: 'issue a new webhook verify token (shown once); the old one stops working',
  flags: { integration },
  help: '\nExample:\n  $ lumen whatsapp rotate-token --json',
});

export const disconnect = command({
  name: 'disconnect',
  description: 'remove a number, its secrets and its templates',
  flags: {
    integration,
    yes: flag.boolean('-y, --yes', 'do not ask for confirmation'),
    purge: flag.boolean('--purge', 'also delete the messages stored for it'),
  },
  help: '\nExample:\n  $ lumen whatsapp disconnect --yes',
});

export const verbs = [
  withHandler(connect, () => import('./connect.js')),
  withHandler(status, () => import('./status.js')),
  withHandler(rotateToken, () => import('./rotate-token.js')),
  withHandler(disconnect, () => import('./disconnect.js')),
];
