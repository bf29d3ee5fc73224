import { Command, Option } from './commander.js';
import type { Outcome } from '../errors.js';
import type { Context, GlobalOptions } from './context.js';

/** What a command module exports. Returning an outcome other than `ok` sets the exit code (main.ts maps it). */
export interface CommandModule {
  run(ctx: Context, options: never, ...args: string[]): Promise<Outcome | void>;
}

export interface ProgramState {
  outcome: Outcome;
}

const EXAMPLES = `
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
  $ lumen messages list --since 1h                        # what the relay stored
  $ lumen contacts list                                   # who wrote; is their 24-hour window open?
  $ lumen events list --failed                            # deliveries to your code still being retried
  $ lumen events replay 42                                # deliver one again

Environment:
  LUMEN_HOME             folder for all state (default: XDG data/config dirs)
  LUMEN_GRAPH_URL        Graph API base URL (default https://graph.facebook.com)
  LUMEN_GRAPH_VERSION    Graph API version (default v23.0)
  LUMEN_SECRET_STORE     keychain | file (default: keychain when available, else file)
  LUMEN_MASTER_KEY       passphrase for the encrypted secrets file
  WHATSAPP_ACCESS_TOKEN, WHATSAPP_APP_SECRET, WHATSAPP_PHONE_NUMBER_ID, WHATSAPP_WABA_ID
                         read by \`lumen whatsapp connect\` instead of prompting
  NO_COLOR, CI           turn colour and spinners off

Exit codes: 0 ok, 1 error, 2 usage, 3 cancelled, 4 auth, 8 pending approval.
`;

function globalsOf(command: Command): GlobalOptions {
  const all = command.optsWithGlobals<{ json?: boolean; input?: boolean; workspace?: string; debug?: boolean }>();
  return {
    json: all.json === true,
    input: all.input !== false,
    workspace: all.workspace ?? 'default',
    debug: all.debug === true,
  };
}

export function buildProgram(state: ProgramState): Command {
  const program = new Command('lumen');

  /** Loads the command's module only when it runs: `lumen --help` stays fast. */
  const action =
    (load: () => Promise<CommandModule>) =>
    async (...args: unknown[]): Promise<void> => {
      const command = args.at(-1) as Command;
      const positional = args.slice(0, -2).filter((a): a is string => typeof a === 'string');
      const { createContext } = await import('./context.js');
      const ctx = createContext(globalsOf(command));
      try {
        const module = await load();
        state.outcome = (await module.run(ctx, command.opts() as never, ...positional)) ?? 'ok';
      } finally {
        await ctx.close();
      }
    };

  program
    .description('Connect a WhatsApp Business number through Meta\'s Cloud API, from your own machine.')
    .version(process.env.npm_package_version ?? '0.1.0', '-v, --version')
    .option('--json', 'print the result as JSON on stdout (progress goes to stderr)')
    .option('--no-input', 'never prompt; a missing value is an error')
    .addOption(new Option('-w, --workspace <name>', 'workspace to act in').default('default'))
    .option('--debug', 'show debug output and stack traces')
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({ outputError: () => {} }) // main.ts prints errors, once
    .addHelpText('after', EXAMPLES);

  const whatsapp = program.command('whatsapp').description('connect and manage a WhatsApp Business number');
  whatsapp
    .command('connect')
    .description('validate a number with the Graph API, sync its templates, store its secrets, print the webhook setup')
    .option('--phone-number-id <id>', 'the Phone number ID from WhatsApp Manager → API Setup (env WHATSAPP_PHONE_NUMBER_ID)')
    .option('--waba-id <id>', 'the WhatsApp Business Account ID (env WHATSAPP_WABA_ID)')
    .option('--label <label>', 'a name for this connection (default: the verified business name)')
    .option('--public-url <url>', 'public base URL of your relay (e.g. a tunnel), to print the full Callback URL')
    .option('--no-subscribe', 'do not subscribe the app to the WABA\'s webhooks')
    .option('-y, --yes', 'update an existing connection of the same number without asking')
    .addHelpText(
      'after',
      '\nSecrets are read from WHATSAPP_ACCESS_TOKEN and WHATSAPP_APP_SECRET, or prompted for (masked).\n\n' +
        'Example:\n  $ WHATSAPP_ACCESS_TOKEN=… WHATSAPP_APP_SECRET=… lumen whatsapp connect \\\n' +
        '      --phone-number-id 106540352242922 --waba-id 102290129340398 --label "Care line" --no-input --json',
    )
    .action(action(() => import('./commands/whatsapp/connect.js')));
  whatsapp
    .command('status')
    .description('show connected numbers (never the verify token)')
    .option('--check', 'ask the Graph API again: token validity, quality rating, template count')
    .option('--integration <id>', 'only this integration (id or phone number id)')
    .addHelpText('after', '\nExample:\n  $ lumen whatsapp status --check --json')
    .action(action(() => import('./commands/whatsapp/status.js')));
  whatsapp
    .command('rotate-token')
    .description('issue a new webhook verify token (shown once); the old one stops working')
    .option('--integration <id>', 'which integration, when several are connected')
    .addHelpText('after', '\nExample:\n  $ lumen whatsapp rotate-token --json')
    .action(action(() => import('./commands/whatsapp/rotate-token.js')));
  whatsapp
    .command('disconnect')
    .description('remove a number, its secrets and its templates')
    .option('--integration <id>', 'which integration, when several are connected')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--purge', 'also delete the messages stored for it')
    .addHelpText('after', '\nExample:\n  $ lumen whatsapp disconnect --yes')
    .action(action(() => import('./commands/whatsapp/disconnect.js')));

  const templates = program.command('templates').description('message templates of the connected number');
  templates
    .command('sync')
    .description('fetch every template from the Graph API (all pages) and store them locally')
    .option('--integration <id>', 'which integration, when several are connected')
    .addHelpText('after', '\nExample:\n  $ lumen templates sync')
    .action(action(() => import('./commands/templates/sync.js')));
  templates
    .command('list')
    .description('list the synced templates')
    .option('--status <status>', 'only templates with this status (APPROVED, PENDING, REJECTED, …)')
    .option('--integration <id>', 'which integration, when several are connected')
    .addHelpText('after', '\nExample:\n  $ lumen templates list --status APPROVED')
    .action(action(() => import('./commands/templates/list.js')));
  templates
    .command('show')
    .description('show a template\'s components and the parameters a send must supply')
    .argument('<name>', 'template name')
    .option('--lang <code>', 'language code, e.g. en_US (needed when the template has several)')
    .option('--integration <id>', 'which integration, when several are connected')
    .addHelpText('after', '\nExample:\n  $ lumen templates show order_update --lang en_US')
    .action(action(() => import('./commands/templates/show.js')));

  const collect = (value: string, previous: string[]) => [...previous, value];
  program
    .command('send')
    .description('send a text (inside the 24-hour window) or a template, checked before Meta sees it')
    .option('--to <number>', 'recipient in international format, e.g. +15551234567')
    .option('--text <text>', 'free-form text (only within 24 hours of the contact\'s last message)')
    .option('--reply-to <wamid>', 'quote this message (text only)')
    .option('--preview-url', 'show a preview of the first URL in the text')
    .option('--template <name>', 'an approved template (see `lumen templates list`)')
    .option('--lang <code>', 'template language, e.g. en_US (needed when the template has several)')
    .option('--param <value>', 'template body parameter: in order for positional, name=value for named (repeat)', collect, [])
    .option('--header-param <value>', 'template header parameter (text, or a media URL or id)')
    .option('--button-param <index=value>', 'template button parameter, e.g. 0=ORDER123 (repeat)', collect, [])
    .option('--idempotency-key <key>', 'a re-run with the same key does not send twice')
    .option('--csv <file>', 'bulk: one message per row (a "to" column and one column per parameter)')
    .addOption(new Option('--rate <n>', 'messages per second for this number').default('80'))
    .addOption(new Option('--workspace-rate <n>', 'messages per second for the workspace, shared by all lumen processes').default('1000'))
    .option('--dry-run', 'print the exact request body; send nothing')
    .option('--force', 'send free-form text even when the 24-hour window is closed')
    .option('--integration <id>', 'which number sends, when several are connected')
    .addHelpText(
      'after',
      '\nExamples:\n  $ lumen send --to +15551234567 --text "Your order shipped"\n' +
        '  $ lumen send --to 15551234567 --template order_update --lang en_US --header-param "#123" --param Ana --param "#123" --button-param 0=ABC\n' +
        '  $ lumen send --to 15551234567 --template welcome --param first_name=Ana --param shop=Lumen\n' +
        '  $ lumen send --csv recipients.csv --template welcome --lang en_US --rate 80 --dry-run\n\n' +
        'Exit codes: 0 sent, 8 held for approval (see `lumen approvals`), 4 token rejected, 1 refused, 2 bad input.',
    )
    .action(action(() => import('./commands/send.js')));

  const approvals = program.command('approvals').description('messages the workspace must approve before they are sent');
  approvals
    .command('policy')
    .description('show or set what needs approval: none, templates, or all')
    .argument('[policy]', 'none | templates | all')
    .addHelpText('after', '\nExample:\n  $ lumen approvals policy templates')
    .action(action(() => import('./commands/approvals/policy.js')));
  approvals
    .command('list')
    .description('messages awaiting approval')
    .addHelpText('after', '\nExample:\n  $ lumen approvals list --json')
    .action(action(() => import('./commands/approvals/list.js')));
  approvals
    .command('approve')
    .description('approve a message and send it (the template and window are checked again)')
    .argument('<id>', 'message id (msg_…)')
    .addHelpText('after', '\nExample:\n  $ lumen approvals approve msg_0123456789abcdef01234567')
    .action(action(() => import('./commands/approvals/approve.js')));
  approvals
    .command('reject')
    .description('reject a message; it is never sent')
    .argument('<id>', 'message id (msg_…)')
    .option('--reason <text>', 'why (recorded)')
    .addHelpText('after', '\nExample:\n  $ lumen approvals reject msg_0123456789abcdef01234567 --reason "wrong customer"')
    .action(action(() => import('./commands/approvals/reject.js')));

  const relay = program.command('relay').description('the local webhook relay: receive, verify, store, hand on');
  relay
    .command('start')
    .description("answer Meta's webhooks: verify every signature, store each message before acknowledging, hand it to your code")
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .addOption(new Option('--port <port>', 'port to listen on (0 picks a free one)').default('8787'))
    .option('--public-url <url>', 'public base URL that reaches this relay (your tunnel), to print the Callback URL')
    .option('--tunnel <provider>', 'start a tunnel: cloudflared or ngrok (must be installed)')
    .option('--forward-to <url>', 'POST each inbound message as JSON to this URL (signed, retried until it answers 2xx)')
    .option('--exec <command>', 'run this command for each inbound message, with its JSON on stdin (retried on failure)')
    .option('--auto-reply [text]', 'reply to each inbound message with this text (without text: what --exec prints)')
    .addOption(new Option('--rate-limit <n>', 'webhook POSTs per second per number before 429 (0 = off)').default('1000'))
    .addOption(new Option('--workspace-rate-limit <n>', 'webhook POSTs per second per workspace (0 = off)').default('2000'))
    .option('--trust-proxy <address...>', "believe X-Forwarded-For from this proxy's address (the tunnel lumen starts is trusted already)")
    .option('--quiet', 'print only where the relay listens, errors and shutdown (no line per event)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ lumen relay start --tunnel cloudflared --forward-to http://localhost:3000/hook\n' +
        '  $ lumen relay start --exec "node bot.js" --auto-reply\n  $ lumen relay start --port 0 --json',
    )
    .action(action(() => import('./commands/relay/start.js')));
  relay
    .command('status')
    .description('is a relay running here, and where')
    .addHelpText('after', '\nExample:\n  $ lumen relay status --json')
    .action(action(() => import('./commands/relay/status.js')));

  const messages = program.command('messages').description('stored inbound messages and sent ones');
  messages
    .command('list')
    .description('inbound messages the relay stored, newest first')
    .option('--from <number>', 'only from this sender (phone number or user id)')
    .option('--since <duration>', 'only newer than this: 30m, 1h, 2d, or an ISO date')
    .addOption(new Option('--limit <n>', 'at most this many').default('20'))
    .addHelpText('after', '\nExample:\n  $ lumen messages list --since 1h --json')
    .action(action(() => import('./commands/messages/list.js')));
  messages
    .command('show')
    .description('one sent message and its delivery timeline')
    .argument('<id>', 'message id (msg_…) or wamid')
    .addHelpText('after', '\nExample:\n  $ lumen messages show msg_0123456789abcdef01234567 --json')
    .action(action(() => import('./commands/messages/show.js')));

  program
    .command('contacts')
    .description('people who wrote to your numbers')
    .command('list')
    .description('senders with their name, last message and whether the 24-hour window is open')
    .addHelpText('after', '\nExample:\n  $ lumen contacts list --json')
    .action(action(() => import('./commands/contacts/list.js')));

  const events = program.command('events').description("deliveries of inbound messages to your code (--forward-to / --exec)");
  events
    .command('list')
    .description('deliveries to your code, newest first')
    .option('--failed', 'only those still failing (being retried)')
    .addOption(new Option('--limit <n>', 'at most this many').default('20'))
    .addHelpText('after', '\nExample:\n  $ lumen events list --failed')
    .action(action(() => import('./commands/events/list.js')));
  events
    .command('replay')
    .description('deliver an event again: now to the target you give, or queued for the running relay')
    .argument('<id>', 'event id (from `lumen events list`)')
    .option('--forward-to <url>', 'deliver it now to this URL')
    .option('--exec <command>', 'deliver it now to this command')
    .addHelpText('after', '\nExample:\n  $ lumen events replay 42 --forward-to http://localhost:3000/hook')
    .action(action(() => import('./commands/events/replay.js')));

  program
    .command('trigger')
    .description('post a realistic signed webhook delivery to a relay (test a bot without a phone)')
    .argument('<what>', 'message | status | batch')
    .option('--type <type>', 'message type: text, image, location, interactive, button, reaction, contacts, order', 'text')
    .option('--text <text>', 'the message text (caption, title… depending on the type)')
    .option('--from <number>', 'the sender', '15551234567')
    .option('--name <name>', "the sender's profile name", 'Sandbox User')
    .option('--reply-to <wamid>', 'make the message a reply to (or a reaction to) this one')
    .option('--wamid <wamid>', 'status: the sent message it is about')
    .option('--status <status>', 'status: sent, delivered, read or failed', 'delivered')
    .option('--error-code <code>', 'status failed: the error code, e.g. 131047')
    .option('--messages <n>', 'batch: how many messages', '3')
    .option('--statuses <n>', 'batch: how many statuses', '2')
    .option('--url <url>', 'post here (default: the running relay, else http://127.0.0.1:8787, plus the webhook path)')
    .option('--integration <id>', 'which number, when several are connected')
    .addHelpText(
      'after',
      '\nExamples:\n  $ lumen trigger message --text "hi"\n  $ lumen trigger message --type image --text "a photo"\n' +
        '  $ lumen trigger status --wamid wamid.HBg… --status read\n  $ lumen trigger batch --messages 3 --statuses 2',
    )
    .action(action(() => import('./commands/trigger.js')));

  program
    .command('demo')
    .description('the whole loop on this machine in seconds, no Meta account: sandbox, relay, inbound, reply, statuses')
    .option('--keep', 'keep the temporary LUMEN_HOME (its path is printed) instead of removing it')
    .addHelpText('after', '\nExample:\n  $ lumen demo')
    .action(action(() => import('./commands/demo.js')));

  const sandbox = program.command('sandbox').description('a local Cloud API emulator: try lumen without a Meta account');
  sandbox
    .command('start')
    .description('run the emulator in the foreground and print the LUMEN_GRAPH_URL to use')
    .addOption(new Option('--port <port>', 'port to listen on (0 picks a free one)').default('8788'))
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--webhook-url <url>', 'post signed webhooks here: statuses after each send, inbound messages on request')
    .option('--app-secret <secret>', 'the app secret that signs webhooks (default: the sandbox\'s own)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ lumen sandbox start --port 8788\n  $ lumen sandbox start --webhook-url http://127.0.0.1:8787/webhooks/whatsapp/wa_…',
    )
    .action(action(() => import('./commands/sandbox/start.js')));

  return program;
}
