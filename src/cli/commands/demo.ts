import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createContext, type Context } from '../context.js';
import type { Options } from '../declare.js';
import { serviceDeps } from '../deps.js';
import { UserError, type Outcome } from '../../errors.js';
import type { DispatchTarget } from '../../relay/dispatch.js';
import type { RelayHandle } from '../../relay/server.js';
import type { SandboxHandle } from '../../sandbox/index.js';
import type { Interaction, OutboundMessage } from '../../store/types.js';
import type { demo as demoCommand } from './index.js';

const CUSTOMER = { number: '15551234567', name: 'Ana', text: 'Hi! Where is my order #1042?' };

/**
 * The whole loop on this machine, no Meta account: a sandbox Cloud API, a relay, an inbound message handed to a
 * tiny built-in handler, a reply and a template sent back, and the status webhooks moving the reply to "read".
 * Everything lives in a temporary LUMEN_HOME, removed at the end unless --keep.
 */
export async function run(ctx: Context, options: Options<typeof demoCommand>): Promise<Outcome> {
  const started = ctx.now().getTime();
  const home = mkdtempSync(join(tmpdir(), 'lumen-demo-'));
  // Removed however the process ends: normally (below), or when stdout goes away (`lumen demo | head -1`: EPIPE).
  const removeHome = () => {
    if (!options.keep) rmSync(home, { recursive: true, force: true });
  };
  process.once('exit', removeHome);
  // The demo's own state and a file secret store: nothing of the user's (or their keychain) is touched.
  const env: NodeJS.ProcessEnv = { ...ctx.env, LUMEN_HOME: home, LUMEN_SECRET_STORE: 'file' };
  delete env.LUMEN_MASTER_KEY;
  const demo = createContext({ ...ctx.globals, workspace: 'demo' }, { io: ctx.io, env, out: ctx.out, prompter: ctx.prompter });
  const s = ctx.out.style;
  let sandbox: SandboxHandle | undefined;
  let relay: RelayHandle | undefined;

  const step = async <T>(label: string, work: () => Promise<T>, done: (result: T) => string): Promise<T> => {
    try {
      return await ctx.out.step(label, work, done);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new UserError(`The demo failed at "${label}": ${reason}`, {
        code: 'demo_failed',
        hint: 'Run `lumen demo --debug` for details.',
        cause: error,
      });
    }
  };

  try {
    const { startSandbox } = await import('../../sandbox/index.js');
    sandbox = await step(
      'Starting the sandbox Cloud API',
      () => startSandbox({ port: 0, webhookDelayMs: 150 }),
      (sb) => `Sandbox Cloud API (a stand-in for graph.facebook.com) on ${sb.url}`,
    );
    env.LUMEN_GRAPH_URL = sandbox.url;
    const sb = sandbox;

    const deps = await serviceDeps(demo);
    const workspace = await demo.workspace({ create: true });
    const { connectWhatsApp } = await import('../../services/whatsapp/connect.js');
    const connected = await step(
      'Connecting the sandbox number',
      () =>
        connectWhatsApp(
          { ...deps, progress: undefined },
          {
            workspace,
            phoneNumberId: sb.phoneNumberId,
            wabaId: sb.wabaId,
            label: 'Demo line',
            subscribe: true,
            accessToken: sb.accessToken,
            appSecret: sb.appSecret,
          },
        ),
      (c) =>
        `Connected ${c.result.phone.displayPhoneNumber} (${c.result.phone.verifiedName}): app subscribed, ` +
        `${c.result.templates.synced} templates synced (${c.result.templates.approved} approved)`,
    );

    // The user's own code, in miniature: it gets each inbound message as JSON and answers with {"reply": …}, which
    // lumen sends through its outbox (the same path as a --forward-to target's answer, never Meta's token).
    const handled: Interaction[] = [];
    const answerFor = (interaction: Interaction) =>
      interaction.type === 'interactive'
        ? { text: 'It arrives tomorrow between 9 and 12. Thanks for waiting!' }
        : {
            text: `Hi ${interaction.contactName ?? 'there'}, order #1042 left our warehouse today. What would you like?`,
            buttons: [
              { id: 'track', title: 'When will it arrive?' },
              { id: 'agent', title: 'Talk to a person' },
            ],
          };
    const handler: DispatchTarget = {
      description: 'the built-in demo handler',
      async deliver(interaction) {
        handled.push(interaction);
        return { ok: true, status: 200, output: JSON.stringify({ reply: answerFor(interaction) }) };
      },
    };
    const replies: string[] = [];
    const { startRelay } = await import('../../relay/server.js');
    relay = await step(
      'Starting the relay',
      () =>
        startRelay(
          {
            store: deps.store,
            secrets: (k) => demo.secrets(k),
            graph: (t) => demo.graph(t),
            now: deps.now,
            env: env,
            onEvent: (event) => {
              if (event.event === 'reply' && event.ok && event.id) replies.push(event.id);
            },
          },
          { host: '127.0.0.1', port: 0, target: handler, mediaDir: join(home, 'media') },
        ),
      (r) => `Relay on ${r.url}${connected.result.webhook.path} (signature-checked, stored before 200)`,
    );
    sb.setWebhookUrl(`${relay.url}${connected.result.webhook.path}`);

    const inbound = await step(
      'A customer writes to the number',
      async () => {
        sb.sendInbound([{ from: CUSTOMER.number, name: CUSTOMER.name, text: CUSTOMER.text }]);
        await waitFor(() => handled[0], 'the inbound message never reached the handler');
        return handled[0]!;
      },
      (i) => `← "${i.text}" from +${i.from} (${i.contactName}): signed webhook verified and stored as ${i.id}`,
    );
    ctx.out.info(`${s.green('✓')} Handed to ${handler.description} as JSON (what --forward-to or --exec gets)`);

    const integration = (await deps.store.integrations.findById(connected.result.id))!;
    const sentMessage = async (id: string) => (await deps.store.outbound.findById(id))!;
    const reply = await step(
      'Your code answers with buttons',
      async () => sentMessage(await waitFor(() => replies[0], 'the handler\'s reply was never sent')),
      (m) => `→ reply with 2 buttons, sent through lumen's outbox and accepted by Meta (${shortWamid(m)})`,
    );
    const tapped = await step(
      'The customer taps a button',
      async () => {
        sb.sendInbound([{ from: CUSTOMER.number, name: CUSTOMER.name, type: 'interactive', text: 'When will it arrive?', buttonId: 'track', ...(reply.wamid ? { contextWamid: reply.wamid } : {}) }]);
        return sentMessage(await waitFor(() => replies[1], 'the answer to the tap was never sent'));
      },
      (m) => `← "When will it arrive?" tapped; → your code's answer accepted (${shortWamid(m)})`,
    );

    const { sendOne } = await import('../../services/messages/send.js');
    const outbox = deps;
    const rates = { perIntegration: 80, perWorkspace: 1000 };
    const template = await step(
      'Sending a template',
      async () =>
        (
          await sendOne(outbox, {
            workspace,
            integration,
            to: inbound.from,
            message: {
              kind: 'template',
              name: 'order_update',
              language: 'en_US',
              params: [CUSTOMER.name, '#1042'],
              header: '#1042',
              buttons: { 0: '1042' },
            },
            rates,
          })
        ).message,
      (m) => `→ template order_update (en_US) with its 4 parameters checked and accepted (${shortWamid(m)})`,
    );
    await step(
      'Waiting for the status webhooks',
      async () => {
        await waitFor(async () => {
          const states = await Promise.all([reply, tapped, template].map(async (m) => (await deps.store.outbound.findById(m.id))?.state));
          return states.every((state) => state === 'read') ? states : undefined;
        }, 'the messages never reached "read"');
      },
      () => 'All three messages went sent → delivered → read, each step a signed status webhook stored by the relay',
    );

    const seconds = ((ctx.now().getTime() - started) / 1000).toFixed(1);
    ctx.out.result(
      {
        ok: true,
        seconds: Number(seconds),
        home: options.keep ? home : null,
        inbound: { id: inbound.id, from: inbound.from, text: inbound.text },
        sent: [reply, tapped, template].map((m) => ({ id: m.id, kind: m.kind, wamid: m.wamid })),
      },
      () => [
        '',
        `${s.green('The whole loop works on this machine')} (${seconds} s).${options.keep ? ` Its state is kept in ${home}: look around with \`LUMEN_HOME=${home} lumen messages list --workspace demo\`.` : ''}`,
        '',
        'With a real number:',
        '  1. lumen whatsapp connect                      # Phone number ID, WABA ID, System User token, app secret',
        '  2. lumen relay start --tunnel cloudflared --forward-to http://localhost:3000/hook',
        '  3. Paste the Callback URL and verify token in Meta\'s App Dashboard → WhatsApp → Configuration',
        '  4. lumen send --to +15551234567 --template hello_world --lang en_US',
        'Try it without a phone: `lumen sandbox start` and `lumen trigger message --text "hi"`. More in README.md.',
      ],
    );
    return 'ok';
  } finally {
    await relay?.close().catch(() => {});
    await sandbox?.close().catch(() => {});
    await demo.close();
    process.off('exit', removeHome);
    removeHome();
  }
}

function shortWamid(message: OutboundMessage): string {
  return message.wamid ? `${message.wamid.slice(0, 18)}…` : 'no wamid';
}

async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, failure: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${failure} within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
