import { Command, Option } from 'commander';
import type { Context, GlobalOptions } from './context.js';

/** What a command module exports. Returning a number sets the exit code (main.ts applies it). */
export interface CommandModule {
  run(ctx: Context, options: never, ...args: string[]): Promise<number | void>;
}

export interface ProgramState {
  exitCode: number;
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
        const code = await module.run(ctx, command.opts() as never, ...positional);
        state.exitCode = typeof code === 'number' ? code : 0;
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

  const sandbox = program.command('sandbox').description('a local Cloud API emulator: try lumen without a Meta account');
  sandbox
    .command('start')
    .description('run the emulator in the foreground and print the LUMEN_GRAPH_URL to use')
    .addOption(new Option('--port <port>', 'port to listen on (0 picks a free one)').default('8788'))
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .addHelpText('after', '\nExample:\n  $ lumen sandbox start --port 8788')
    .action(action(() => import('./commands/sandbox/start.js')));

  return program;
}
