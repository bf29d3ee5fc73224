import { arg, command, flag, noun, withHandler } from '../declare.js';
import { backup } from './backup/index.js';
import { completion } from './completion/index.js';

/**
 * The root of the tree: lumen's global flags and help, the verbs at the top (`send`, `trigger`, `demo`), and the
 * nouns, whose verbs are declared in their folders (`whatsapp/index.ts`) and load only when the noun is named.
 */

export const description = "Connect a WhatsApp Business number through Meta's Cloud API, from your own machine.";

/** Recognised before and after the command (`lumen -w acme messages list` = `lumen messages list -w acme`). */
export const globalFlags = {
  json: flag.boolean('--json', 'print the result as JSON on stdout (progress goes to stderr)'),
  input: flag.negatable('--no-input', 'never prompt; a missing value is an error'),
  workspace: flag.string('-w, --workspace <name>', 'workspace to act in', { default: 'default', env: 'LUMEN_WORKSPACE' }),
  debug: flag.boolean('--debug', 'show debug output and stack traces'),
};

export const help = `
Examples:
  $ lumen sandbox start                                   # a local Cloud API to try everything without Meta
  $ lumen whatsapp connect                                # prompts for the token, ids and app secret
  $ lumen whatsapp connect --phone-number-id 106540352242922 --waba-id 102290129340398 \\
        --label "Care line" --no-input --json            # secrets from WHATSAPP_ACCESS_TOKEN / WHATSAPP_APP_SECRET
  $ lumen whatsapp status --check                         # is the token still valid? quality rating?
  $ lumen whatsapp rotate-token                           # a new webhook verify token, shown once
  $ lumen whatsapp disconnect --yes                       # forget the number and its secrets
  $ lumen templates sync                                  # fetch the templates again from Meta
  $ lumen templates list --status APPROVED --json
  $ lumen templates show order_update --lang en_US        # the parameters a send must supply
  $ lumen send --to +15551234567 --text "Your order shipped"
  $ lumen send --to 15551234567 --template welcome --param first_name=Ana --param shop=Lumen
  $ lumen send --csv recipients.csv --template welcome --lang en_US --rate 80
  $ lumen approvals policy templates                      # template sends wait for approval
  $ lumen approvals list
  $ lumen approvals approve msg_…                         # or: lumen approvals reject msg_… --reason "…"
  $ lumen messages show msg_…                             # a sent message and its delivery timeline
  $ lumen demo                                            # the whole loop in one command, no Meta account
  $ lumen relay start --tunnel cloudflared --forward-to http://localhost:3000/hook
  $ lumen relay status
  $ lumen trigger message --text "hi"                     # a signed inbound delivery to the running relay
  $ lumen console                                         # the running relay's console in your browser
  $ lumen messages list --since 1h                        # what the relay stored
  $ lumen contacts list                                   # who wrote; is their 24-hour window open?
  $ lumen usage --since 30d                               # sent messages by pricing category, billable ones
  $ lumen events tail                                     # follow the running relay from another terminal
  $ lumen events list --failed                            # deliveries to your code still being retried
  $ lumen events replay 42                                # deliver one again
  $ lumen workspaces list                                 # each workspace and its numbers
  $ lumen relay install-service --forward-to http://localhost:3000/hook   # run it for months (systemd/launchd)
  $ lumen relay stop                                      # stop the running relay gracefully
  $ lumen messages purge --older-than 90d --dry-run       # what a purge would delete
  $ lumen messages export --format csv --output all.csv
  $ lumen backup ~/lumen-backup.db                        # an online copy, safe while the relay runs
  $ lumen db status                                       # which database, schema version, pending migrations
  $ lumen db migrate                                      # apply them now (PostgreSQL: once for every host)
  $ lumen secrets rotate-key                              # LUMEN_PREVIOUS_MASTER_KEY → LUMEN_MASTER_KEY
  $ source <(lumen completion bash)                       # tab completion (also zsh, fish)
  $ lumen -w acme whatsapp connect                        # a second business, kept apart (creates "acme")

Environment:
  LUMEN_HOME             folder for all state (default: XDG data/config dirs)
  LUMEN_GRAPH_URL        Graph API base URL (default https://graph.facebook.com)
  LUMEN_GRAPH_VERSION    Graph API version (default v25.0)
  LUMEN_DATABASE_URL     postgres://… : keep the state in PostgreSQL, shared by several relays (default: SQLite)
  LUMEN_SECRET_STORE     keychain | file | database (default: keychain when available, else file)
  LUMEN_MASTER_KEY       passphrase for the encrypted secrets file, or (required) for the database store
  LUMEN_PREVIOUS_MASTER_KEY  the passphrase \`lumen secrets rotate-key\` re-encrypts from
  LUMEN_WORKSPACE        workspace to act in, when --workspace is not given
  WHATSAPP_ACCESS_TOKEN, WHATSAPP_APP_SECRET, WHATSAPP_PHONE_NUMBER_ID, WHATSAPP_WABA_ID
                         read by \`lumen whatsapp connect\` instead of prompting
  NO_COLOR, CI           turn colour and spinners off

Exit codes: 0 ok, 1 error, 2 usage, 3 cancelled, 4 auth, 8 pending approval.
`;

export const send = command({
  name: 'send',
  description: 'send a message (text, media, buttons, a list, a location, a contact card, a reaction, or a template), checked before Meta sees it',
  flags: {
    to: flag.string('--to <number>', 'recipient: a number in international format (+15551234567) or a user id (US.13491208655302741918)'),
    text: flag.string('--text <text>', "free-form text (only within 24 hours of the contact's last message); the body of --button, --list and --cta-url"),
    replyTo: flag.string('--reply-to <wamid>', 'quote this message (any type but a reaction)'),
    previewUrl: flag.boolean('--preview-url', 'show a preview of the first URL in the text'),
    image: flag.string('--image <file|url|id>', 'an image (JPEG, PNG; 5 MB): a local file is uploaded, a URL sent as a link, digits are a media id'),
    video: flag.string('--video <file|url|id>', 'a video (MP4, 3GPP; 16 MB)'),
    audio: flag.string('--audio <file|url|id>', 'an audio file (AAC, AMR, MP3, M4A, OGG; 16 MB)'),
    document: flag.string('--document <file|url|id>', 'a document (PDF, TXT, Office; 100 MB)'),
    sticker: flag.string('--sticker <file|url|id>', 'a sticker (WebP; 500 KB)'),
    caption: flag.string('--caption <text>', 'the caption of an image, video or document (1024 characters)'),
    filename: flag.string('--filename <name>', "the file name a document shows (also a template's DOCUMENT header)"),
    button: flag.repeatable('--button <id=title>', 'a reply button, e.g. yes=Yes (repeat, at most 3); the body is --text'),
    list: flag.string('--list <file.json>', 'a list: {"body","button","sections":[{"title","rows":[{"id","title","description"}]}]}'),
    ctaUrl: flag.string('--cta-url <url>', 'a call-to-action button opening this URL (with --cta-text and --text)'),
    ctaText: flag.string('--cta-text <text>', "the call-to-action button's label (20 characters)"),
    header: flag.string('--header <text>', 'the header of a --button, --list or --cta-url message (60 characters)'),
    footer: flag.string('--footer <text>', 'the footer of a --button, --list or --cta-url message (60 characters)'),
    location: flag.string('--location <lat,lng>', 'a location pin, e.g. 38.7223,-9.1393'),
    name: flag.string('--name <name>', "the location's name"),
    address: flag.string('--address <address>', "the location's address"),
    contactCard: flag.string('--contact-card <file>', 'contact cards: a vCard (.vcf), or JSON (a Cloud API contact object or a list of them)'),
    react: flag.string('--react <emoji>', 'react to --to-message with this emoji ("" removes the reaction)'),
    toMessage: flag.string('--to-message <wamid>', 'the message --react reacts to'),
    body: flag.string('--body <file|->', 'any Cloud API message object (without "to"), from a file or stdin (-), sent as is'),
    template: flag.string('--template <name>', 'an approved template (see `lumen templates list`)'),
    lang: flag.string('--lang <code>', 'template language, e.g. en_US (needed when the template has several)'),
    param: flag.repeatable('--param <value>', 'template body parameter: in order for positional, name=value for named (repeat)'),
    headerParam: flag.string('--header-param <value>', 'template header parameter (text, or a media URL or id)'),
    buttonParam: flag.repeatable('--button-param <index=value>', 'template button parameter, e.g. 0=ORDER123 (repeat)'),
    idempotencyKey: flag.string('--idempotency-key <key>', 'a re-run with the same key does not send twice'),
    csv: flag.string('--csv <file>', 'bulk: one message per row (a "to" column and one column per parameter)'),
    rate: flag.string('--rate <n>', 'messages per second for this number', { default: '80' }),
    workspaceRate: flag.string('--workspace-rate <n>', 'messages per second for the workspace, shared by all lumen processes', {
      default: '1000',
    }),
    dryRun: flag.boolean('--dry-run', 'print the exact request body; send nothing (and upload nothing)'),
    force: flag.boolean('--force', 'send a free-form message even when the 24-hour window is closed'),
    integration: flag.string('--integration <id>', 'which number sends, when several are connected'),
  },
  help:
    '\nExamples:\n  $ lumen send --to +15551234567 --text "Your order shipped"\n' +
    '  $ lumen send --to 15551234567 --image ./receipt.png --caption "Your receipt"     # uploaded, then sent by id\n' +
    '  $ lumen send --to 15551234567 --document https://x.example/invoice.pdf --filename invoice.pdf\n' +
    '  $ lumen send --to 15551234567 --text "Keep it?" --button keep="Keep it" --button delete=Delete --footer "Lumen"\n' +
    '  $ lumen send --to 15551234567 --list menu.json --header "Menu"\n' +
    '  $ lumen send --to 15551234567 --text "Track your order" --cta-url https://x.example/o/1 --cta-text Track\n' +
    '  $ lumen send --to 15551234567 --location 38.7223,-9.1393 --name "Lumen HQ" --address "Rua Augusta 1, Lisboa"\n' +
    '  $ lumen send --to 15551234567 --contact-card ana.vcf\n' +
    '  $ lumen send --to 15551234567 --react 👍 --to-message wamid.HBg…            # --react "" removes it\n' +
    '  $ echo \'{"type":"text","text":{"body":"Hi"}}\' | lumen send --to 15551234567 --body -\n' +
    '  $ lumen send --to US.13491208655302741918 --text "Hi"                         # a username user\n' +
    '  $ lumen send --to 15551234567 --template order_update --lang en_US --header-param "#123" --param Ana --param "#123" --button-param 0=ABC\n' +
    '  $ lumen send --to 15551234567 --template welcome --param first_name=Ana --param shop=Lumen\n' +
    '  $ lumen send --csv recipients.csv --template welcome --lang en_US --rate 80 --dry-run\n\n' +
    'One kind of message per send. Exit codes: 0 sent, 8 held for approval (see `lumen approvals`), 4 token rejected, 1 refused, 2 bad input.',
});

export const trigger = command({
  name: 'trigger',
  description: 'post a realistic signed webhook delivery to a relay (test a bot without a phone)',
  args: [
    arg(
      '[what]',
      'message | status | batch | template | template-category | template-quality | template-components | account | quality | capability | preferences | echo | edit | revoke (not with --file)',
    ),
  ],
  flags: {
    file: flag.string('--file <file>', 'post this delivery (a file the console saved) exactly as it is, signed with the number\'s app secret'),
    type: flag.string('--type <type>', 'message type: text, image, video, audio, document, sticker, location, interactive, button, reaction, contacts, order', {
      default: 'text',
    }),
    text: flag.string('--text <text>', 'the message text (caption, title… depending on the type)'),
    from: flag.string('--from <number>', 'the sender', { default: '15551234567' }),
    name: flag.string('--name <name>', "the sender's profile name", { default: 'Sandbox User' }),
    replyTo: flag.string('--reply-to <wamid>', 'make the message a reply to (or a reaction to) this one'),
    wamid: flag.string('--wamid <wamid>', 'status: the sent message it is about; edit, revoke: the message edited or deleted'),
    template: flag.string('--template <name>', 'template*: the template the webhook is about'),
    lang: flag.string('--lang <code>', 'template*: its language', { default: 'en_US' }),
    event: flag.string('--event <event>', 'template: the new status (APPROVED, REJECTED, PAUSED, DISABLED); account, quality: Meta\'s event'),
    reason: flag.string('--reason <text>', "template: Meta's reason"),
    category: flag.string('--category <category>', 'template-category: the new category (MARKETING, UTILITY, AUTHENTICATION)'),
    quality: flag.string('--quality <score>', 'template-quality, quality: GREEN, YELLOW or RED'),
    limit: flag.string('--limit <tier>', 'quality: the messaging limit (TIER_250, TIER_1K, TIER_10K, TIER_100K, TIER_UNLIMITED)'),
    restriction: flag.string('--restriction <type>', 'account: a restriction, e.g. RESTRICTED_ADD_PHONE_NUMBER_ACTION'),
    coexistence: flag.boolean('--coexistence', 'account: the number is also on the WhatsApp Business app'),
    value: flag.string('--value <stop|resume>', 'preferences: stop or resume marketing messages'),
    to: flag.string('--to <number>', 'echo: who the business app wrote to; preferences: whose (default --from)'),
    status: flag.string('--status <status>', 'status: sent, delivered, read or failed', { default: 'delivered' }),
    errorCode: flag.string('--error-code <code>', 'status failed: the error code, e.g. 131047'),
    messages: flag.string('--messages <n>', 'batch: how many messages', { default: '3' }),
    statuses: flag.string('--statuses <n>', 'batch: how many statuses', { default: '2' }),
    url: flag.string('--url <url>', 'post here (default: the running relay, else http://127.0.0.1:8787, plus the webhook path)'),
    integration: flag.string('--integration <id>', 'which number, when several are connected'),
  },
  help:
    '\nExamples:\n  $ lumen trigger message --text "hi"\n  $ lumen trigger message --type image --text "a photo"\n' +
    '  $ lumen trigger status --wamid wamid.HBg… --status read\n  $ lumen trigger batch --messages 3 --statuses 2\n' +
    '  $ lumen trigger template --template order_update --event PAUSED\n  $ lumen trigger preferences --value stop\n' +
    '  $ lumen trigger account --coexistence\n  $ lumen trigger echo --to 15551234567 --text "sent from the app"\n' +
    '  $ lumen trigger edit --wamid wamid.HBg… --text "new text"\n  $ lumen trigger revoke --wamid wamid.HBg…\n' +
    '  $ lumen trigger --file delivery-12.json                # a delivery saved from the console, sent again',
});

export const usage = command({
  name: 'usage',
  description: "sent messages by Meta's pricing category: sent, delivered, read, failed and billable",
  flags: {
    since: flag.string('--since <when>', 'from this long ago (30m, 12h, 30d) or this date', { default: '30d' }),
  },
  help: '\nExamples:\n  $ lumen usage\n  $ lumen usage --since 7d --json',
});

export const consoleCommand = command({
  name: 'console',
  description: 'open the browser console of the running relay: live deliveries, conversations, approvals, your code, templates',
  flags: {
    open: flag.negatable('--no-open', 'print the URL instead of opening the default browser ($BROWSER, else the system default)'),
  },
  help: '\nExamples:\n  $ lumen console\n  $ lumen console --no-open\n  $ BROWSER=firefox lumen console',
});

export const demo = command({
  name: 'demo',
  description: 'the whole loop on this machine in seconds, no Meta account: sandbox, relay, inbound, reply, statuses',
  flags: { keep: flag.boolean('--keep', 'keep the temporary LUMEN_HOME (its path is printed) instead of removing it') },
  help: '\nExample:\n  $ lumen demo',
});

export const doctor = command({
  name: 'doctor',
  description: 'check everything lumen needs, one line each with the fix: Node, LUMEN_HOME, database, secrets, token, number, webhooks, relay, clock',
  flags: {
    tunnel: flag.string('--tunnel <provider>', 'also check that this tunnel tool (cloudflared or ngrok) is installed'),
  },
  help: '\nExamples:\n  $ lumen doctor\n  $ lumen doctor --json\n\nExit 1 when a check fails.',
});

/** The top level of `lumen --help`, in this order. */
export const commands = [
  noun('whatsapp', 'connect and manage a WhatsApp Business number', () => import('./whatsapp/index.js')),
  noun('templates', 'message templates of the connected number', () => import('./templates/index.js')),
  withHandler(send, () => import('./send.js')),
  noun('approvals', 'messages the workspace must approve before they are sent', () => import('./approvals/index.js')),
  noun('relay', 'the local webhook relay: receive, verify, store, hand on', () => import('./relay/index.js')),
  noun('messages', 'stored inbound messages and sent ones', () => import('./messages/index.js')),
  noun('media', 'media files lumen received or uploaded: list them, save one', () => import('./media/index.js')),
  noun('contacts', 'people who wrote to your numbers', () => import('./contacts/index.js')),
  withHandler(usage, () => import('./usage.js')),
  noun('events', 'deliveries to your code (--forward-to / --exec), and the running relay\'s events (tail)', () => import('./events/index.js')),
  withHandler(trigger, () => import('./trigger.js')),
  withHandler(consoleCommand, () => import('./console.js')),
  withHandler(demo, () => import('./demo.js')),
  withHandler(doctor, () => import('./doctor.js')),
  noun('sandbox', 'a local Cloud API emulator: try lumen without a Meta account', () => import('./sandbox/index.js')),
  noun('workspaces', 'workspaces keep numbers, messages and approval policies apart (--workspace)', () => import('./workspaces/index.js')),
  withHandler(backup, () => import('./backup/backup.js')),
  noun('db', 'the database: which one, its schema version, pending migrations (status, migrate)', () => import('./db/index.js')),
  noun('secrets', 'where secrets are kept; re-encrypt them under a new LUMEN_MASTER_KEY (status, rotate-key)', () => import('./secrets/index.js')),
  withHandler(completion, () => import('./completion/completion.js')),
];
