/**
 * `lumen send`, `lumen approvals` and `lumen messages show` end to end: the built CLI under a temp LUMEN_HOME,
 * the sandbox as the Graph API over HTTP. Assertions are what a user checks: the exit code, the one-line error,
 * the `--json` document, and the exact request body Meta (the sandbox) received.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { eventually } from '../helpers/async.js';
import { BIN } from '../helpers/cli.js';
import {
  acceptedPerRecipient,
  acceptedSends,
  connectedHome,
  graphStandIn,
  ndjson,
  writeCsv,
  type ConnectedHome,
} from '../helpers/send.js';

const TO = '+15551234567';
const DIGITS = '15551234567';
const HOUR = 60 * 60 * 1000;
const USER = userInfo().username;
const MSG_ID = /^msg_[0-9a-f]{24}$/;

/** order_update (en_US): a header, two positional body values and a URL button. */
const ORDER_VALUES = ['--header-param', '#123', '--param', 'Ana', '--param', '#123', '--button-param', '0=ABC'];
const ORDER = ['--template', 'order_update', '--lang', 'en_US', ...ORDER_VALUES];
const WELCOME = ['--template', 'welcome', '--param', 'first_name=Ana', '--param', 'shop=Lumen'];

function orderBody(to = DIGITS, v = { header: '#123', name: 'Ana', order: '#123', button: 'ABC' }, language = 'en_US') {
  return {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to,
    type: 'template',
    template: {
      name: 'order_update',
      language: { code: language },
      components: [
        { type: 'header', parameters: [{ type: 'text', text: v.header }] },
        { type: 'body', parameters: [{ type: 'text', text: v.name }, { type: 'text', text: v.order }] },
        { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: v.button }] },
      ],
    },
  };
}

function welcomeBody(to = DIGITS, firstName = 'Ana', shop = 'Lumen') {
  return {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to,
    type: 'template',
    template: {
      name: 'welcome',
      language: { code: 'en_US' },
      components: [
        {
          type: 'body',
          parameters: [
            { type: 'text', text: firstName, parameter_name: 'first_name' },
            { type: 'text', text: shop, parameter_name: 'shop' },
          ],
        },
      ],
    },
  };
}

function textBody(text: string, extra: { preview_url?: boolean; context?: { message_id: string } } = {}) {
  return {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to: DIGITS,
    type: 'text',
    text: { body: text, preview_url: extra.preview_url ?? false },
    ...(extra.context ? { context: extra.context } : {}),
  };
}

/** The CSV order_update needs: `to`, `header`, the body placeholders by number, `button.0`. */
const ORDER_CSV_HEADER = 'to,header,1,2,button.0';

let sandbox: SandboxHandle;
let home: ConnectedHome;

beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => {
  await sandbox.close();
});
beforeEach(() => sandbox.reset());

/** Each test of the block gets its own LUMEN_HOME with the sandbox number connected. */
function connectedHomePerTest() {
  beforeEach(async () => {
    home = await connectedHome(sandbox);
    sandbox.reset(); // connect's calls are not what these tests look at
  });
  afterEach(() => home.cleanup());
}

describe('lumen send --text', () => {
  connectedHomePerTest();

  it('sends free-form text to a contact who wrote within 24 hours, with the exact body Meta expects', async () => {
    // Given the contact wrote an hour ago (what the relay records for an inbound message)
    home.contactWrote(TO, new Date(Date.now() - HOUR));
    // When the user sends a text, the number written the way people write it
    const { result, json } = await home.runJson(['send', '--to', '+1 (555) 123-4567', '--text', 'Your order shipped']);
    // Then Meta received exactly this body, and the result names the message and its wamid
    expect(result.exitCode).toBe(0);
    const sent = sandbox.sent();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.body).toStrictEqual(textBody('Your order shipped'));
    const wamid = sent[0]!.outcome.result === 'accepted' ? sent[0]!.outcome.wamid : undefined;
    expect(json).toMatchObject({
      id: expect.stringMatching(MSG_ID),
      outcome: 'sent',
      state: 'accepted',
      to: DIGITS,
      wamid,
      kind: 'text',
      template: null,
      integrationId: home.integrationId,
      source: 'cli',
      error: null,
      approval: null,
    });
    // And `messages show` finds it by its wamid too, with the request as sent
    const shown = await home.runJson(['messages', 'show', wamid!]);
    expect(shown.result.exitCode).toBe(0);
    expect(shown.json).toMatchObject({ id: json.id, state: 'accepted', request: textBody('Your order shipped'), timeline: [] });
  });

  it('quotes a message with --reply-to and asks for a link preview with --preview-url', async () => {
    home.contactWrote(TO, new Date(Date.now() - HOUR));
    const result = await home.run([
      'send', '--to', DIGITS, '--text', 'See https://x.example/o/1', '--reply-to', 'wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBQz', '--preview-url',
    ]);
    expect(result.exitCode).toBe(0);
    expect(sandbox.sent().map((s) => s.body)).toStrictEqual([
      textBody('See https://x.example/o/1', { preview_url: true, context: { message_id: 'wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBQz' } }),
    ]);
    // The human output says accepted is not delivered, and how to follow it
    expect(result.stdout).toMatch(/^Accepted by Meta: msg_[0-9a-f]{24} \(wamid\.[^)]+\)\.\n/);
    expect(result.stdout).toContain('lumen messages show msg_');
    // Shown formatted, stored (and sent) as E.164 digits
    expect(result.stderr).toContain('✓ Sent to +1 555 123 4567');
  });

  it('refuses text to a contact who never wrote, with a one-line reason and a hint to use a template', async () => {
    // Given nobody wrote from this number
    // When
    const { result, json } = await home.runJson(['send', '--to', TO, '--text', 'Hello']);
    // Then nothing reached Meta and nothing was written to the outbox
    expect(result.exitCode).toBe(1);
    expect(json).toStrictEqual({
      error: {
        code: 'window_closed',
        message: `+${DIGITS} has never written to this number: free-form text is not allowed.`,
        hint: 'Send an approved template (--template NAME), or --force to try anyway (Meta answers 131047).',
      },
    });
    expect(sandbox.sent()).toEqual([]);
    expect(home.outbox()).toEqual([]);

    // Without --json: the error and its hint on stderr, one line each, no stack trace
    const human = await home.run(['send', '--to', TO, '--text', 'Hello']);
    expect(human.exitCode).toBe(1);
    expect(human.stdout).toBe('');
    expect(human.stderr).toContain(`Error: +${DIGITS} has never written to this number: free-form text is not allowed.\nHint: Send an approved template`);
    expect(human.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses text when the contact last wrote 25 hours ago, and sends when they wrote 23 hours ago', async () => {
    // Given the last inbound message is 25 hours old
    const lastWrote = new Date(Date.now() - 25 * HOUR);
    home.contactWrote(TO, lastWrote);
    // When / Then: refused, naming when they last wrote
    const { result, json } = await home.runJson(['send', '--to', TO, '--text', 'Hello']);
    expect(result.exitCode).toBe(1);
    expect(json.error.code).toBe('window_closed');
    expect(json.error.message).toBe(`+${DIGITS} last wrote at ${lastWrote.toISOString().slice(0, 19).replace('T', ' ')} UTC, more than 24 hours ago: free-form text is not allowed.`);
    expect(sandbox.sent()).toEqual([]);

    // Given they write again (23 hours ago is inside the window)
    home.contactWrote(TO, new Date(Date.now() - 23 * HOUR));
    const again = await home.runJson(['send', '--to', TO, '--text', 'Hello']);
    expect(again.result.exitCode).toBe(0);
    expect(acceptedSends(sandbox)).toHaveLength(1);
  });

  it('sends anyway with --force when the window is closed', async () => {
    home.contactWrote(TO, new Date(Date.now() - 25 * HOUR));
    const { result, json } = await home.runJson(['send', '--to', TO, '--text', 'Are you there?', '--force']);
    expect(result.exitCode).toBe(0);
    expect(json.outcome).toBe('sent');
    expect(sandbox.sent().map((s) => s.body)).toStrictEqual([textBody('Are you there?')]);
  });
});

describe('lumen send when the token cannot be read', () => {
  connectedHomePerTest();

  it('fails with one line and queues nothing, for one message and for a CSV', async () => {
    // Given the encrypted file's key is gone (the file secret store of these homes)
    rmSync(join(home.dir, 'secrets.key'));
    home.contactWrote(TO, new Date(Date.now() - HOUR));
    const csv = writeCsv(home.dir, 'few.csv', 'to\n+15550001001\n+15550001002\n');
    for (const args of [
      ['send', '--to', TO, '--text', 'hello'],
      ['send', '--csv', csv, '--template', 'hello_world', '--lang', 'en_US'],
    ]) {
      const { result, json } = await home.runJson(args);
      // Then the run says so and stops
      expect(result.exitCode, result.stderr).not.toBe(0);
      expect(json.error.message).not.toMatch(/bug in lumen/);
      expect(result.stderr + result.stdout).not.toMatch(/\n\s+at /);
    }
    // And nothing was queued for later (a queued row nobody sends would stay listed for good), nor sent
    expect(home.outbox()).toEqual([]);
    expect(sandbox.sent()).toEqual([]);
  });
});

describe('lumen send --template', () => {
  connectedHomePerTest();

  it('sends a positional template with header, body and URL-button values (no window needed)', async () => {
    // Given a contact who never wrote: templates are always allowed
    // When
    const { result, json } = await home.runJson(['send', '--to', DIGITS, ...ORDER]);
    // Then
    expect(result.exitCode).toBe(0);
    expect(sandbox.sent().map((s) => s.body)).toStrictEqual([orderBody()]);
    expect(json).toMatchObject({ outcome: 'sent', state: 'accepted', kind: 'template', template: { name: 'order_update', language: 'en_US' } });

    // And the Spanish translation is chosen with --lang
    const es = await home.runJson(['send', '--to', DIGITS, '--template', 'order_update', '--lang', 'es', ...ORDER_VALUES]);
    expect(es.result.exitCode).toBe(0);
    expect(sandbox.sent()[1]!.body).toStrictEqual(orderBody(DIGITS, undefined, 'es'));
  });

  it('sends a named template (its only language, so no --lang) with parameter_name on every value', async () => {
    const { result, json } = await home.runJson(['send', '--to', TO, '--template', 'welcome', '--param', 'shop=Lumen', '--param', 'first_name=Ana']);
    expect(result.exitCode).toBe(0);
    expect(json.template).toEqual({ name: 'welcome', language: 'en_US' });
    expect(sandbox.sent().map((s) => s.body)).toStrictEqual([welcomeBody()]);
  });
});

describe('lumen send refuses bad input before Meta sees it', () => {
  // Nothing in this block changes state, so one connected home serves every case.
  beforeAll(async () => {
    home = await connectedHome(sandbox);
  });
  afterAll(() => home.cleanup());

  it.each<[string, string[], number, string, RegExp, RegExp?]>([
    ['an unknown template', ['--to', TO, '--template', 'order_shipped', '--lang', 'en_US'], 1, 'template_not_found',
      /^No template named "order_shipped" in the local sync\.$/, /lumen templates sync/],
    ['an unknown language', ['--to', TO, '--template', 'order_update', '--lang', 'fr', ...ORDER_VALUES], 1, 'template_language_not_found',
      /^Template "order_update" has no "fr" translation\.$/, /Languages: en_US, es\./],
    ['several languages and no --lang', ['--to', TO, '--template', 'order_update', ...ORDER_VALUES], 2, 'usage',
      /exists in several languages; choose one with --lang/, /en_US, es/],
    ['a REJECTED template', ['--to', TO, '--template', 'promo_rejected'], 1, 'template_not_approved',
      /"promo_rejected" \(en_US\) is REJECTED, not APPROVED/, /^Meta rejected it: edit it in WhatsApp Manager and submit it again/],
    ['a PENDING template', ['--to', TO, '--template', 'pending_offer', '--param', 'Ana'], 1, 'template_not_approved', /is PENDING, not APPROVED/,
      /wait for approval/],
    ['one positional value for two', ['--to', TO, '--template', 'order_update', '--lang', 'en_US', '--header-param', '#1', '--param', 'Ana', '--button-param', '0=A'],
      2, 'template_parameters', /the body takes 2 parameters, 1 given/, /lumen templates show order_update --lang en_US/],
    ['three positional values for two', ['--to', TO, ...ORDER, '--param', 'extra'], 2, 'template_parameters', /the body takes 2 parameters, 3 given/],
    ['no header value', ['--to', TO, '--template', 'order_update', '--lang', 'en_US', '--param', 'Ana', '--param', '#1', '--button-param', '0=A'],
      2, 'template_parameters', /the header needs a value \(--header-param\)/],
    ['no button value', ['--to', TO, '--template', 'order_update', '--lang', 'en_US', '--header-param', '#1', '--param', 'Ana', '--param', '#1'],
      2, 'template_parameters', /button 0 needs a value/],
    ['an unknown named parameter', ['--to', TO, ...WELCOME, '--param', 'city=Porto'], 2, 'template_parameters', /unknown parameter city/, /body:first_name, body:shop/],
    ['a missing named parameter', ['--to', TO, '--template', 'welcome', '--param', 'first_name=Ana'], 2, 'template_parameters', /missing shop/],
    ['a plain value for a named template', ['--to', TO, '--template', 'welcome', '--param', 'Ana'], 2, 'template_parameters', /name=value; got "Ana"/,
      /--param first_name=… --param shop=…/],
    ['text over 4096 characters', ['--to', TO, '--text', 'x'.repeat(4097)], 2, 'usage', /The text is 4097 characters; WhatsApp allows at most 4096\./],
    ['an empty text', ['--to', TO, '--text', ' '], 2, 'usage', /The text is empty/],
    ['letters for a number', ['--to', 'abc', '--text', 'Hi'], 2, 'usage', /^"abc" is not a phone number in international format\.$/, /\+15551234567/],
    ['a number too short', ['--to', '+12', ...WELCOME], 2, 'usage', /^"\+12" is not a phone number in international format\.$/],
    ['--text and --template together', ['--to', TO, '--text', 'Hi', ...WELCOME], 2, 'usage', /Give --text or --template, not both/],
    ['no --to', ['--text', 'Hi'], 2, 'usage', /Missing --to/],
    ['neither --text nor --template', ['--to', TO], 2, 'usage', /Give --text "…" or --template NAME/],
    ['--param with --text', ['--to', TO, '--text', 'Hi', '--param', 'x'], 2, 'usage', /go with --template/],
    ['--lang with --text', ['--to', TO, '--text', 'Hi', '--lang', 'en_US'], 2, 'usage', /^--lang goes with --template/],
    ['a North American number without its 1', ['--to', '(555) 123-4567', '--text', 'Hi'], 2, 'usage', /has no country code: as written it is \+55 \(Brazil\)/, /\+1 555 123 4567/],
    ['a New York number without its 1 (New Zealand as written)', ['--to', '6465550100', '--text', 'Hi'], 2, 'usage', /^"6465550100" has no country code: it could be \+1 646 555 0100 \(US or Canada\) or \+64 6 555 0100 \(New Zealand\)\.$/],
    ['--csv with --to', ['--to', TO, '--csv', 'r.csv', ...WELCOME], 2, 'usage', /drop --to/],
    ['a rate of 0', ['--to', TO, ...WELCOME, '--rate', '0'], 2, 'usage', /--rate must be a number/],
    ['an empty --integration', ['--to', TO, '--text', 'Hi', '--integration', ''], 2, 'usage', /--integration is empty/],
    ['a --reply-to that is not a wamid', ['--to', TO, '--text', 'Hi', '--reply-to', 'notawamid'], 2, 'usage', /must be named by its wamid \(wamid\.…\); got "notawamid"/],
    ['--dry-run with a wrong count (checked all the same)', ['--to', TO, '--template', 'order_update', '--lang', 'en_US', '--param', 'Ana', '--dry-run'],
      2, 'template_parameters', /the header needs a value|the body takes 2/],
  ])('refuses %s with its exit code and one error document; nothing sent or written', async (_what, args, exitCode, code, message, hint) => {
    const { result, json } = await home.runJson(['send', ...args]);
    expect(result.exitCode, result.stdout + result.stderr).toBe(exitCode);
    expect(json.error.code).toBe(code);
    expect(json.error.message).toMatch(message);
    if (hint) expect(json.error.hint).toMatch(hint);
    expect(result.stdout).not.toContain('    at '); // no stack in the error document
    expect(sandbox.sent()).toEqual([]);
    expect(home.outbox()).toEqual([]);
  });

  it('refuses an unknown approval policy (exit 2)', async () => {
    const { result, json } = await home.runJson(['approvals', 'policy', 'some']);
    expect(result.exitCode).toBe(2);
    expect(json.error.message).toBe('The policy must be one of none, templates, all; got "some".');
  });
});

describe('lumen send --dry-run', () => {
  connectedHomePerTest();

  it('prints the exact request and sends nothing', async () => {
    const { result, json } = await home.runJson(['send', '--to', TO, ...ORDER, '--dry-run']);
    expect(result.exitCode).toBe(0);
    expect(json).toStrictEqual({
      dryRun: true,
      request: { method: 'POST', path: `/v25.0/${sandbox.phoneNumberId}/messages`, body: orderBody() },
    });
    expect(sandbox.sent()).toEqual([]);
    expect(home.outbox()).toEqual([]);
  });

  it('prints a text request for a human, still checking the window', async () => {
    const closed = await home.run(['send', '--to', TO, '--text', 'Hi', '--dry-run']);
    expect(closed.exitCode).toBe(1);
    expect(closed.stderr).toContain('has never written');

    home.contactWrote(TO, new Date(Date.now() - HOUR));
    const open = await home.run(['send', '--to', TO, '--text', 'Hi', '--dry-run']);
    expect(open.exitCode).toBe(0);
    expect(open.stdout).toContain('Dry run: nothing sent.');
    expect(open.stdout).toContain(`POST /v25.0/${sandbox.phoneNumberId}/messages`);
    const printed = JSON.parse(open.stdout.slice(open.stdout.indexOf('{')));
    expect(printed).toStrictEqual(textBody('Hi'));
    expect(sandbox.sent()).toEqual([]);
  });

  it('with an idempotency key, says what a real send would do with it: nothing when sent, an error for another message', async () => {
    home.contactWrote(TO, new Date(Date.now() - HOUR));
    expect((await home.run(['send', '--to', TO, '--text', 'Hi', '--idempotency-key', 'k1'])).exitCode).toBe(0);
    const { result, json } = await home.runJson(['send', '--to', TO, '--text', 'Hi', '--idempotency-key', 'k1', '--dry-run']);
    expect(result.exitCode).toBe(0);
    expect(json).toMatchObject({ dryRun: true, outcome: 'already_sent', state: expect.any(String) });
    const human = await home.run(['send', '--to', TO, '--text', 'Hi', '--idempotency-key', 'k1', '--dry-run']);
    expect(human.stdout).toMatch(/^Dry run: nothing would be sent\. This key already sent this message \(msg_/);
    const other = await home.run(['send', '--to', TO, '--text', 'Bye', '--idempotency-key', 'k1', '--dry-run']);
    expect([other.exitCode, other.stderr.split('\n')[0]]).toEqual([1, expect.stringContaining('was already used for a different message')]);
    expect(sandbox.sent()).toHaveLength(1);
  });
});

describe('approvals', () => {
  connectedHomePerTest();

  async function holdTemplate(): Promise<string> {
    const { result, json } = await home.runJson(['send', '--to', TO, ...ORDER]);
    expect(result.exitCode).toBe(8);
    expect(json).toMatchObject({ outcome: 'pending_approval', state: 'pending_approval', wamid: null });
    expect(json.id).toMatch(MSG_ID);
    return json.id as string;
  }

  it('holds template sends under policy "templates", sends one on approval, once, and records who approved', async () => {
    // Given a workspace that must approve template sends
    const policy = await home.runJson(['approvals', 'policy', 'templates']);
    expect(policy.json).toStrictEqual({ workspace: 'default', policy: 'templates' });
    // When a template is sent
    const id = await holdTemplate();
    // Then Meta got nothing and the message awaits approval
    expect(sandbox.sent()).toEqual([]);
    const list = await home.runJson(['approvals', 'list']);
    expect(list.json).toEqual([
      expect.objectContaining({ id, state: 'pending_approval', to: DIGITS, kind: 'template', template: { name: 'order_update', language: 'en_US' } }),
    ]);
    // And free-form replies inside the window are not held by this policy
    home.contactWrote(TO, new Date(Date.now() - HOUR));
    expect((await home.run(['send', '--to', TO, '--text', 'Thanks!'])).exitCode).toBe(0);

    // When it is approved
    const approved = await home.runJson(['approvals', 'approve', id]);
    // Then it is sent, exactly as written, and the approval names the OS user
    expect(approved.result.exitCode).toBe(0);
    expect(approved.json).toMatchObject({
      id,
      state: 'accepted',
      wamid: expect.stringMatching(/^wamid\./),
      approval: { approvedBy: USER, approvedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), rejectedBy: null },
    });
    const templateSends = () => acceptedSends(sandbox).filter((s) => (s.body as { type: string }).type === 'template');
    expect(templateSends().map((s) => s.body)).toStrictEqual([orderBody()]);
    expect((await home.runJson(['approvals', 'list'])).json).toEqual([]);
    const shown = await home.runJson(['messages', 'show', id]);
    expect(shown.json).toMatchObject({ id, state: 'accepted', wamid: approved.json.wamid, request: orderBody(), approval: { approvedBy: USER } });

    // When it is approved a second time
    const again = await home.runJson(['approvals', 'approve', id]);
    // Then it is refused and not sent again
    expect(again.result.exitCode).toBe(1);
    expect(again.json.error.code).toBe('already_decided');
    expect(again.json.error.message).toContain(`approved by ${USER}`);
    expect(templateSends()).toHaveLength(1);
  });

  it('shows an approver what a held message says: its first words in approvals list, all of it in messages show', async () => {
    await home.run(['approvals', 'policy', 'all']);
    home.contactWrote(TO, new Date(Date.now() - HOUR));
    const held = await home.runJson(['send', '--to', TO, '--text', 'Your refund of $40 is on its way, see you soon at the shop']);
    expect(held.result.exitCode).toBe(8);
    const id = held.json.id as string;
    const list = await home.run(['approvals', 'list']);
    expect(list.stdout).toMatch(new RegExp(`^${id} +\\+${DIGITS} +text: Your refund of \\$40 is on its way, see you soon at… +cli `, 'm'));
    const shown = await home.run(['messages', 'show', id]);
    expect(shown.stdout).toContain('  Text      "Your refund of $40 is on its way, see you soon at the shop"\n');
    expect(shown.stdout).toMatch(/^ {2}Request {3}\{"messaging_product":"whatsapp",.*"text":\{.*"body":"Your refund of \$40 is on its way, see you soon at the shop"/m);
  });

  it('rejects with a reason (required), after which the message cannot be approved', async () => {
    await home.run(['approvals', 'policy', 'templates']);
    // Given a held message (the human output says how to approve or reject it)
    const human = await home.run(['send', '--to', TO, ...ORDER]);
    expect(human.exitCode).toBe(8);
    const id = /msg_[0-9a-f]{24}/.exec(human.stdout)![0];
    expect(human.stdout).toContain(`awaits approval (workspace policy "templates")`);
    expect(human.stdout).toContain(`lumen approvals approve ${id}`);

    // When rejecting without a reason: usage error, still pending
    const noReason = await home.runJson(['approvals', 'reject', id]);
    expect(noReason.result.exitCode).toBe(2);
    expect(noReason.json.error.message).toContain('--reason');
    expect((await home.runJson(['approvals', 'list'])).json).toHaveLength(1);

    // When rejecting with a reason
    const rejected = await home.runJson(['approvals', 'reject', id, '--reason', 'wrong customer']);
    expect(rejected.result.exitCode).toBe(0);
    expect(rejected.json).toMatchObject({
      id,
      state: 'rejected',
      approval: { approvedBy: null, rejectedBy: USER, rejectedAt: expect.any(String), reason: 'wrong customer' },
    });

    // Then approving (or rejecting) it afterwards is refused, and nothing was ever sent
    const approve = await home.runJson(['approvals', 'approve', id]);
    expect(approve.result.exitCode).toBe(1);
    expect(approve.json.error.code).toBe('already_decided');
    expect(approve.json.error.message).toContain(`rejected by ${USER}`);
    const rejectAgain = await home.runJson(['approvals', 'reject', id, '--reason', 'again']);
    expect(rejectAgain.json.error.code).toBe('already_decided');
    expect(sandbox.sent()).toEqual([]);
    const shown = await home.runJson(['messages', 'show', id]);
    expect(shown.json).toMatchObject({ state: 'rejected', wamid: null, approval: { rejectedBy: USER, reason: 'wrong customer' } });
  });

  it('does not send a held template that was deleted since, and sends it once the template is synced again', async () => {
    await home.run(['approvals', 'policy', 'templates']);
    const id = await holdTemplate();
    // Given the template disappeared from the local sync
    home.sql('DELETE FROM templates WHERE name = ?', 'order_update');
    // When approving
    const approve = await home.runJson(['approvals', 'approve', id]);
    // Then a clear error, nothing sent, and the message still awaits approval
    expect(approve.result.exitCode).toBe(1);
    expect(approve.json.error.code).toBe('template_not_found');
    expect(approve.json.error.hint).toContain('lumen templates sync');
    expect(sandbox.sent()).toEqual([]);
    expect((await home.runJson(['messages', 'show', id])).json).toMatchObject({ state: 'pending_approval', approval: null });

    // When the templates are synced again, the approval goes through
    expect((await home.run(['templates', 'sync'])).exitCode).toBe(0);
    const retry = await home.runJson(['approvals', 'approve', id]);
    expect(retry.result.exitCode).toBe(0);
    expect(acceptedSends(sandbox).map((s) => s.body)).toStrictEqual([orderBody()]);
  });

  it('holds free-form text too under policy "all"', async () => {
    await home.run(['approvals', 'policy', 'all']);
    home.contactWrote(TO, new Date(Date.now() - HOUR));
    const { result, json } = await home.runJson(['send', '--to', TO, '--text', 'Your refund is on its way']);
    expect(result.exitCode).toBe(8);
    expect(json).toMatchObject({ outcome: 'pending_approval', kind: 'text' });
    expect(sandbox.sent()).toEqual([]);

    const approved = await home.runJson(['approvals', 'approve', json.id]);
    expect(approved.result.exitCode).toBe(0);
    expect(sandbox.sent().map((s) => s.body)).toStrictEqual([textBody('Your refund is on its way')]);
  });

  it('says which id is unknown', async () => {
    const { result, json } = await home.runJson(['approvals', 'approve', 'msg_000000000000000000000000']);
    expect(result.exitCode).toBe(1);
    expect(json.error).toMatchObject({ code: 'message_not_found', hint: expect.stringContaining('lumen approvals list') });
  });
});

describe('Graph errors and retries', () => {
  connectedHomePerTest();

  it.each([
    ['130429 (throughput)', 130429, 400],
    ['HTTP 500', 500, 500],
  ])('retries %s and sends exactly once in the end', async (_what, code, status) => {
    // Given Meta refuses the first attempt
    sandbox.addFault({ to: TO, code, times: 1 });
    // When
    const { result, json } = await home.runJson(['send', '--to', TO, ...ORDER]);
    // Then the failed attempt, then one accepted send of the same body
    expect(result.exitCode).toBe(0);
    expect(json.state).toBe('accepted');
    const attempts = sandbox.sent(TO);
    expect(attempts.map((a) => [a.outcome.result, a.outcome.status])).toEqual([
      ['failed', status],
      ['accepted', 200],
    ]);
    expect(attempts.map((a) => a.body)).toStrictEqual([orderBody(), orderBody()]);
  });

  it('gives up after a bounded number of attempts and records the failure', async () => {
    sandbox.addFault({ to: TO, code: 130429, times: 0 }); // every send fails
    const { result, json } = await home.runJson(['send', '--to', TO, ...ORDER]);
    expect(result.exitCode).toBe(1);
    expect(json.error.code).toBe('send_failed');
    expect(json.error.message).toBe(`Not sent to +${DIGITS}: the number reached its throughput limit (code 130429).`);
    expect(sandbox.sent(TO)).toHaveLength(4);
    expect(acceptedSends(sandbox)).toEqual([]);
  });

  it('does not retry 131047, says the 24 hours have passed, and marks the message failed with that code', async () => {
    // Given the window looks open locally, but Meta says it is not
    home.contactWrote(TO, new Date(Date.now() - HOUR));
    sandbox.addFault({ to: TO, code: 131047 });
    // When
    const { result, json } = await home.runJson(['send', '--to', TO, '--text', 'Hello again']);
    // Then one attempt only, and a one-line reason
    expect(result.exitCode).toBe(1);
    expect(sandbox.sent(TO)).toHaveLength(1);
    expect(json.error.code).toBe('send_failed');
    expect(json.error.message).toBe(
      `Not sent to +${DIGITS}: more than 24 hours have passed since the customer last wrote (code 131047).`,
    );
    expect(json.error.hint).toContain('template');
    const id = /msg_[0-9a-f]{24}/.exec(json.error.hint)![0];
    // And `messages show` has it failed with Meta's code and trace id
    const shown = await home.runJson(['messages', 'show', id]);
    expect(shown.json).toMatchObject({
      id,
      state: 'failed',
      wamid: null,
      error: { code: 131047, title: expect.stringContaining('Re-engagement message'), fbtraceId: expect.any(String) },
    });
    expect(json.error.hint).toContain(shown.json.error.fbtraceId);
  });

  it('does not send again when the connection drops after Meta accepted the message', async () => {
    // Given Meta accepts the message but the connection drops before its answer arrives
    const graph = await graphStandIn(sandbox, (nth) => (nth === 1 ? 'reset' : 'forward'));
    let first: Awaited<ReturnType<typeof home.runJson>>;
    let second: Awaited<ReturnType<typeof home.runJson>>;
    try {
      // When the send is run, and run again with the same key
      first = await home.runJson(['send', '--to', TO, ...ORDER, '--idempotency-key', 'k-reset'], { env: { LUMEN_GRAPH_URL: graph.url } });
      second = await home.runJson(['send', '--to', TO, ...ORDER, '--idempotency-key', 'k-reset'], { env: { LUMEN_GRAPH_URL: graph.url } });
    } finally {
      await graph.close();
    }
    // Then the customer got it once: lumen cannot know whether Meta has it, so it says so and never resends it
    expect(acceptedSends(sandbox)).toHaveLength(1);
    expect(first.result.exitCode).toBe(1);
    expect(first.json.error.code).toBe('send_outcome_unknown');
    expect(second.json.error.code).toBe('send_outcome_unknown');
    expect(home.outbox()).toMatchObject([{ state: 'sending', attempts: 1 }]);
  });

  it('exits 4 when Meta rejects the token (code 190), without retrying or showing the token', async () => {
    // Given the stored token is not the one the Graph API now accepts
    const other = await startSandbox({ accessToken: 'EAAanotherTokenThatIsNotTheStoredOne1234' });
    try {
      // When
      const { result, json } = await home.runJson(['send', '--to', TO, ...ORDER], { env: { LUMEN_GRAPH_URL: other.url } });
      // Then
      expect(result.exitCode).toBe(4);
      expect(json.error.code).toBe('auth_invalid_token');
      expect(json.error.hint).toContain('lumen whatsapp connect');
      expect(result.stdout + result.stderr).not.toContain(sandbox.accessToken);
      expect(other.sent()).toEqual([]);
      expect(sandbox.sent()).toEqual([]);
      expect(home.outbox()).toMatchObject([{ state: 'failed', error_code: 190, attempts: 1 }]);
    } finally {
      await other.close();
    }
  });
});

describe('idempotency', () => {
  connectedHomePerTest();

  it('a second run with the same --idempotency-key reports the earlier send and sends nothing', async () => {
    const first = await home.runJson(['send', '--to', TO, ...ORDER, '--idempotency-key', 'order-123-shipped']);
    expect(first.json.outcome).toBe('sent');
    // When the same command runs again
    const second = await home.runJson(['send', '--to', TO, ...ORDER, '--idempotency-key', 'order-123-shipped']);
    // Then
    expect(second.result.exitCode).toBe(0);
    expect(second.json).toMatchObject({ outcome: 'already_sent', id: first.json.id, wamid: first.json.wamid, state: 'accepted' });
    expect(sandbox.sent()).toHaveLength(1);
    const human = await home.run(['send', '--to', TO, ...ORDER, '--idempotency-key', 'order-123-shipped']);
    expect(human.stdout).toContain(`Already sent: ${first.json.id}`);
    expect(sandbox.sent()).toHaveLength(1);
  });

  it('a re-run after Meta refused the message tries the same message again', async () => {
    sandbox.addFault({ to: TO, code: 131026 });
    const first = await home.runJson(['send', '--to', TO, ...ORDER, '--idempotency-key', 'k1']);
    expect(first.result.exitCode).toBe(1);
    const second = await home.runJson(['send', '--to', TO, ...ORDER, '--idempotency-key', 'k1']);
    expect(second.result.exitCode).toBe(0);
    expect(second.json.outcome).toBe('sent');
    expect(home.outbox()).toMatchObject([{ id: second.json.id, state: 'accepted', idempotency_key: 'k1', attempts: 2 }]);
    expect(sandbox.sent().map((s) => s.outcome.result)).toEqual(['failed', 'accepted']);
  });

  it('after a crash while Meta was answering, a re-run does not send again but says the outcome is unknown', async () => {
    // Given Meta accepts the message but its answer never arrives, and lumen is killed while waiting for it
    const graph = await graphStandIn(sandbox, () => 'hold');
    try {
      const child = execa('node', [BIN, 'send', '--to', TO, ...ORDER, '--idempotency-key', 'k-crash'], {
        env: { ...home.env, LUMEN_GRAPH_URL: graph.url },
        extendEnv: false,
        reject: false,
      });
      await graph.lost;
      child.kill('SIGKILL');
      expect((await child).signal).toBe('SIGKILL');
    } finally {
      await graph.close();
    }
    expect(acceptedSends(sandbox)).toHaveLength(1);
    expect(home.outbox()).toMatchObject([{ state: 'sending', wamid: null }]);

    // When the same command runs again
    const { result, json } = await home.runJson(['send', '--to', TO, ...ORDER, '--idempotency-key', 'k-crash']);
    // Then it refuses to guess: nothing sent a second time
    expect(result.exitCode).toBe(1);
    expect(json.error.code).toBe('send_outcome_unknown');
    expect(json.error.message).toContain('may or may not have reached Meta');
    expect(json.error.hint).toContain('lumen messages show msg_');
    expect(acceptedSends(sandbox)).toHaveLength(1);

    // And once the longest a send can take has passed, `messages show` says its outcome is unknown
    const [row] = home.outbox();
    expect((await home.runJson(['messages', 'show', row!.id])).json.outcomeUnknown).toBe(false);
    home.sql("UPDATE outbound_messages SET updated_at = '2026-01-01T00:00:00.000Z' WHERE id = ?", row!.id);
    expect((await home.runJson(['messages', 'show', row!.id])).json).toMatchObject({ state: 'sending', outcomeUnknown: true });
    expect((await home.run(['messages', 'show', row!.id])).stdout).toMatch(/State {5}sending, outcome unknown: lumen stopped or lost Meta's answer/);
  });

  it.each([
    ['a 502 page from a proxy between lumen and Meta', 'bad-gateway', /the Graph API's answer \(HTTP 502\) could not be read as Meta's/],
    ["Meta's 200 cut short", 'garbled', /the Graph API's answer \(HTTP 200\) could not be read as Meta's/],
  ] as const)('after %s, the send is not tried again, and a re-run says the outcome is unknown', async (_what, behaviour, reason) => {
    // Given Meta accepts the message, but what comes back is not its answer
    const graph = await graphStandIn(sandbox, () => behaviour);
    let first;
    try {
      first = await home.runJson(['send', '--to', TO, ...ORDER, '--idempotency-key', `k-${behaviour}`], { env: { LUMEN_GRAPH_URL: graph.url } });
      // Then it is tried once (no retry could send it twice), and reported as maybe sent, not as "not sent"
      expect(graph.requests).toBe(1);
    } finally {
      await graph.close();
    }
    expect(first.result.exitCode).toBe(1);
    expect(first.json.error.code).toBe('send_outcome_unknown');
    expect(first.json.error.message).toMatch(reason);
    expect(acceptedSends(sandbox)).toHaveLength(1);
    expect(home.outbox()).toMatchObject([{ state: 'sending', wamid: null }]);

    // And the same command against Meta itself sends nothing a second time
    const again = await home.runJson(['send', '--to', TO, ...ORDER, '--idempotency-key', `k-${behaviour}`]);
    expect(again.result.exitCode).toBe(1);
    expect(again.json.error.code).toBe('send_outcome_unknown');
    expect(acceptedSends(sandbox)).toHaveLength(1);
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('%s while Meta answers lets the send finish and records its answer', async (signal) => {
    // Given a send whose answer from Meta is on its way
    const graph = await graphStandIn(sandbox, () => 'gate');
    let result;
    try {
      const child = execa('node', [BIN, 'send', '--to', TO, ...ORDER, '--idempotency-key', `k-${signal}`, '--json'], {
        env: { ...home.env, LUMEN_GRAPH_URL: graph.url },
        extendEnv: false,
        reject: false,
      });
      let said = '';
      const warned = new Promise<void>((resolve) => child.stderr!.on('data', (chunk: Buffer) => (said += chunk.toString()).includes('Stopping once this send is done') && resolve()));
      await graph.lost;
      // When the signal comes, then the answer
      child.kill(signal);
      await warned;
      graph.release();
      result = await child;
    } finally {
      await graph.close();
    }
    // Then it was sent once and recorded as accepted, not left "sending"
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ outcome: 'sent', state: 'accepted' });
    expect(home.outbox()).toMatchObject([{ state: 'accepted' }]);
    expect(acceptedSends(sandbox)).toHaveLength(1);
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('%s while the send waits for its rate slot stops it at once: nothing sent, and a re-run sends it', async (signal) => {
    // Given a number whose next send slot is ten minutes away (as behind a slow bulk run)
    home.sql('INSERT OR REPLACE INTO send_slots (key, next_at_ms) VALUES (?, ?)', `integration:${home.integrationId}`, Date.now() + 600_000);
    const args = ['send', '--to', TO, ...ORDER, '--idempotency-key', `k-wait-${signal}`, '--json'];
    const child = execa('node', [BIN, ...args], { env: home.env, extendEnv: false, reject: false });
    // When the signal comes while it waits (queued, not yet claimed)
    await eventually(() => expect(home.outbox()).toMatchObject([{ state: 'queued' }]));
    child.kill(signal);
    const result = await child;

    // Then it stops (exit 3, as a cancelled command), having sent nothing, and says so
    expect(result.exitCode, result.stderr).toBe(3);
    expect(JSON.parse(result.stdout).error).toMatchObject({ code: 'send_cancelled', message: expect.stringMatching(/^Stopped before sending: message msg_\w+ to \+15551234567 was not sent\.$/) });
    expect(result.stderr).not.toContain('Stopping once this send is done');
    expect(acceptedSends(sandbox)).toHaveLength(0);
    expect(home.outbox()).toMatchObject([{ state: 'failed', attempts: 0 }]);

    // And once the slot is free, the same command sends it, once
    home.sql('DELETE FROM send_slots');
    const again = await home.runJson(args.slice(0, -1));
    expect(again.result.exitCode, again.result.stderr).toBe(0);
    expect(again.json).toMatchObject({ outcome: 'sent', state: 'accepted' });
    expect(home.outbox()).toMatchObject([{ state: 'accepted', attempts: 1 }]);
    expect(acceptedSends(sandbox)).toHaveLength(1);
  });

  it('a bulk run killed part-way and run again sends every row exactly once', async () => {
    const rows = Array.from({ length: 12 }, (_, i) => `+1555000${String(9000 + i)},#${i},Name ${i},#${i},T${i}`);
    const csv = writeCsv(home.dir, 'crash.csv', `${ORDER_CSV_HEADER}\n${rows.join('\n')}\n`);
    const args = ['send', '--csv', csv, '--template', 'order_update', '--lang', 'en_US', '--rate', '5', '--json'];

    // Given a bulk send at 5/s (3 rows in flight at most), killed once Meta's answer to the fifth request is lost
    const graph = await graphStandIn(sandbox, (nth) => (nth <= 4 ? 'forward' : 'hold'));
    try {
      const child = execa('node', [BIN, ...args], { env: { ...home.env, LUMEN_GRAPH_URL: graph.url }, extendEnv: false, reject: false });
      await graph.lost;
      child.kill('SIGKILL');
      await child;
    } finally {
      await graph.close();
    }
    const before = home.outbox();
    const acceptedBefore = before.filter((r) => r.state === 'accepted').length;
    const unknown = before.filter((r) => r.state === 'sending');
    // Whatever the speed: the fifth request went out after some row's answer was recorded (at most 3 rows are in
    // flight), it is caught mid-send, and at most 4 + 3 rows were queued when the kill came
    expect(acceptedBefore).toBeGreaterThanOrEqual(1);
    expect(unknown.length).toBeGreaterThanOrEqual(1);
    expect(before.length).toBeLessThan(12); // killed part-way: some rows were not even queued

    // When the same command runs again
    const rerun = await home.run(args);
    // Then rows sent before are skipped, rows caught mid-send are reported and not sent again, the rest are sent
    const events = ndjson(rerun.stdout);
    const rowEvents = events.filter((e) => e.event === 'row');
    expect(rowEvents).toHaveLength(12);
    expect(rowEvents.filter((e) => e.status === 'skipped')).toHaveLength(acceptedBefore);
    const failed = rowEvents.filter((e) => e.status === 'failed');
    expect(failed.map((e) => e.to).sort()).toEqual(unknown.map((r) => r.recipient).sort());
    for (const row of failed) expect(row.error).toMatch(/may or may not have reached Meta/);
    expect(rowEvents.filter((e) => e.status === 'sent')).toHaveLength(12 - acceptedBefore - unknown.length);
    expect(rerun.exitCode).toBe(1);
    // And Meta got every row exactly once (the row caught mid-send had reached it before the kill)
    const perRecipient = acceptedPerRecipient(sandbox);
    expect(perRecipient.size).toBe(12);
    expect([...perRecipient.values()].every((n) => n === 1)).toBe(true);
  });
});

describe('lumen send --csv', () => {
  connectedHomePerTest();

  it('refuses a file that is not UTF-8 (naming its line) or names a column twice, sends nothing; reads stdin with --csv -', async () => {
    const args = (csv: string) => ['send', '--csv', csv, '--template', 'order_update', '--lang', 'en_US'];
    // A file saved as Windows-1252: "José" would reach the customer as "Jos\uFFFD"
    const latin1 = join(home.dir, 'latin1.csv');
    writeFileSync(latin1, Buffer.concat([Buffer.from(`${ORDER_CSV_HEADER}\n+15550004001,#1,Ana,#1,T1\n+15550004002,#2,Jos`), Buffer.from([0xe9]), Buffer.from(',#2,T2\n')]));
    const encoded = await home.run(args(latin1));
    expect([encoded.exitCode, encoded.stderr.split('\n')[0]]).toEqual([2, 'Error: latin1.csv, line 3: the file is not UTF-8 text (saved as Latin-1 or Windows-1252?).']);
    const utf16 = join(home.dir, 'utf16.csv');
    writeFileSync(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${ORDER_CSV_HEADER}\n`, 'utf16le')]));
    const asUtf16 = await home.run(args(utf16));
    expect(asUtf16.stderr).toMatch(/^Error: utf16\.csv is UTF-16 text, not UTF-8\./);
    expect(asUtf16.stderr).toContain('iconv -f UTF-16 -t UTF-8');
    // UTF-16 without its BOM would read as UTF-8 with a NUL after every letter
    const bare16 = join(home.dir, 'bare16.csv');
    writeFileSync(bare16, Buffer.from(`${ORDER_CSV_HEADER}\n+15550004001,#1,Ana,#1,T1\n`, 'utf16le'));
    const nul = await home.run(args(bare16));
    expect([nul.exitCode, nul.stderr.split('\n')[0]]).toEqual([2, 'Error: bare16.csv, line 1: the file holds NUL bytes, so it is not UTF-8 text (UTF-16 without a BOM?).']);
    // Two "to" columns: which number was meant?
    const twice = writeCsv(home.dir, 'twice.csv', `to,${ORDER_CSV_HEADER}\n+15550004003,+15550004004,#3,Bo,#3,T3\n`);
    const dup = await home.run(args(twice));
    expect([dup.exitCode, dup.stderr.split('\n')[0]]).toEqual([2, 'Error: twice.csv: the column "to" appears twice in its header.']);
    expect(sandbox.sent()).toEqual([]);
    expect(home.outbox()).toEqual([]);

    // And the same rows from stdin
    const piped = await home.run([...args('-'), '--json'], { input: `${ORDER_CSV_HEADER}\n+15550004005,#5,Cy,#5,T5\n` });
    expect(piped.exitCode, piped.stderr).toBe(0);
    expect(ndjson(piped.stdout).at(-1)).toMatchObject({ event: 'summary', total: 1, sent: 1 });
  });

  it('sends a few hundred rows at a raised rate with NDJSON progress, then skips them all on a re-run', async () => {
    // Given 300 recipients, each with their own values
    const n = 300;
    const number = (i: number) => `1555000${String(i).padStart(4, '0')}`;
    const lines = Array.from({ length: n }, (_, i) => `+${number(i)},#${i},Name ${i},#${i},T${i}`);
    const csv = writeCsv(home.dir, 'recipients.csv', `${ORDER_CSV_HEADER}\n${lines.join('\n')}\n`);
    const args = ['send', '--csv', csv, '--template', 'order_update', '--lang', 'en_US', '--rate', '200', '--json'];

    // When
    const first = await home.run(args);
    // Then one `row` event per row, then the summary; every row sent once with its own values
    expect(first.exitCode, first.stderr).toBe(0);
    const events = ndjson(first.stdout);
    expect(events).toHaveLength(n + 1);
    const rows = events.slice(0, n);
    expect(rows.every((e) => e.event === 'row' && e.status === 'sent' && MSG_ID.test(e.id) && e.wamid.startsWith('wamid.'))).toBe(true);
    expect(rows.map((e) => e.line).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 2));
    expect(events[n]).toMatchObject({ event: 'summary', total: n, sent: n, skipped: 0, failed: 0, invalid: 0, pendingApproval: 0, dryRun: 0 });
    const perRecipient = acceptedPerRecipient(sandbox);
    expect(perRecipient.size).toBe(n);
    expect([...perRecipient.values()].every((count) => count === 1)).toBe(true);
    for (const send of acceptedSends(sandbox)) {
      const i = Number(send.waId!.slice(-4));
      expect(send.body).toStrictEqual(orderBody(number(i), { header: `#${i}`, name: `Name ${i}`, order: `#${i}`, button: `T${i}` }));
    }

    // When the same command runs again
    const second = await home.run(args);
    // Then every row is skipped and nothing more is sent
    expect(second.exitCode).toBe(0);
    const again = ndjson(second.stdout);
    expect(again.filter((e) => e.event === 'row' && e.status === 'skipped')).toHaveLength(n);
    expect(again.at(-1)).toMatchObject({ event: 'summary', total: n, sent: 0, skipped: n });
    expect(sandbox.sent()).toHaveLength(n);
    // And a new batch of the same message, named, is sent again
    const named = await home.run([...args, '--idempotency-key', 'second-wave']);
    expect(ndjson(named.stdout).at(-1)).toMatchObject({ event: 'summary', total: n, sent: n, skipped: 0 });
    expect(sandbox.sent()).toHaveLength(2 * n);
  });

  it("takes a spreadsheet's export as it is: \"To\" for to, user ids, and trailing rows of empty fields", async () => {
    const csv = writeCsv(home.dir, 'export.csv', 'To,first_name,Shop\n+15550006001,Ana,Lumen\nUS.13491208655302741918,Bo,Lumen\n,,\n,,\n');
    const { exitCode, stdout, stderr } = await home.run(['send', '--csv', csv, '--template', 'welcome', '--json']);
    expect(exitCode, stderr).toBe(0);
    const events = ndjson(stdout);
    expect(events.filter((e) => e.event === 'row').map((e) => [e.line, e.status, e.to])).toEqual([
      [2, 'sent', '15550006001'],
      [3, 'sent', 'US.13491208655302741918'],
    ]);
    expect(events.at(-1)).toMatchObject({ event: 'summary', total: 2, sent: 2 });
    expect(acceptedSends(sandbox).map((s) => [(s.body as any).to ?? null, (s.body as any).recipient ?? null]).sort()).toEqual([
      [null, 'US.13491208655302741918'],
      ['15550006001', null],
    ]);
    // A column that is not there is named with the ones that are
    const missing = await home.run(['send', '--csv', writeCsv(home.dir, 'm.csv', 'phone,first_name\n+15550006001,Ana\n'), '--template', 'welcome']);
    expect([missing.exitCode, missing.stderr.split('\n')[0]]).toEqual([2, 'Error: The CSV lacks the columns "to", "shop".']);
    expect(missing.stderr).toContain('The CSV has: phone, first_name.');
    // Two that differ only in case: which one is meant is asked, not guessed
    const twice = await home.run(['send', '--csv', writeCsv(home.dir, 't.csv', 'To,TO,first_name,shop\n+15550006001,+15550006002,Ana,L\n'), '--template', 'welcome']);
    expect([twice.exitCode, twice.stderr.split('\n')[0]]).toEqual([2, 'Error: The CSV has "To" and "TO": which is the column "to"?']);
  });

  it('reports bad rows with their line numbers, sends the others (quoted commas included) and exits 1', async () => {
    const csv = writeCsv(
      home.dir,
      'mixed.csv',
      [
        ORDER_CSV_HEADER,
        '+15550001001,#1,Ana,#1,A1', // line 2: fine
        'abc,#2,Bo,#2,A2', // line 3: not a number
        '+15550001003,#3,Cy,,A3', // line 4: empty parameter
        '"+1 555 000 1004",#4,"Smith, Di","#4, rush",A4', // line 5: quoted fields with commas
        '+15550001005,#5,Ed', // line 6: too few fields
        '',
      ].join('\n'),
    );
    const args = ['send', '--csv', csv, '--template', 'order_update', '--lang', 'en_US', '--rate', '200'];
    const { exitCode, stdout } = await home.run([...args, '--json']);
    expect(exitCode).toBe(1);
    const events = ndjson(stdout);
    const byLine = new Map(events.filter((e) => e.event === 'row').map((e) => [e.line, e]));
    expect(byLine.get(2)).toMatchObject({ status: 'sent', to: '15550001001' });
    expect(byLine.get(3)).toMatchObject({ status: 'invalid', to: null, error: '"abc" is not a phone number in international format.' });
    expect(byLine.get(4)).toMatchObject({ status: 'invalid', to: '15550001003', error: expect.stringContaining('a body parameter is empty') });
    expect(byLine.get(5)).toMatchObject({ status: 'sent', to: '15550001004' });
    expect(byLine.get(6)).toMatchObject({ status: 'invalid', error: '3 fields, the header has 5' });
    expect(events.at(-1)).toMatchObject({ event: 'summary', total: 5, sent: 2, invalid: 3 });
    expect(acceptedSends(sandbox).map((s) => s.body)).toStrictEqual(
      expect.arrayContaining([
        orderBody('15550001001', { header: '#1', name: 'Ana', order: '#1', button: 'A1' }),
        orderBody('15550001004', { header: '#4', name: 'Smith, Di', order: '#4, rush', button: 'A4' }),
      ]),
    );
    expect(sandbox.sent()).toHaveLength(2);

    // A human re-run names the file and line of each bad row, skips the sent ones and says what to do
    const human = await home.run(args);
    expect(human.exitCode).toBe(1);
    expect(human.stderr).toContain('mixed.csv:3: "abc" is not a phone number');
    expect(human.stderr).toContain('mixed.csv:4 (+15550001003):');
    expect(human.stderr).toContain('mixed.csv:6: 3 fields, the header has 5');
    expect(human.stdout).toContain('0 sent, 2 already sent (skipped), 3 invalid of 5 rows');
    expect(human.stdout).toContain('rows already sent are skipped');
    expect(sandbox.sent()).toHaveLength(2);
  });

  it('refuses a CSV without a column the template needs (exit 2) and sends nothing', async () => {
    const csv = writeCsv(home.dir, 'short.csv', 'to,header,1,button.0\n+15550001001,#1,Ana,A1\n');
    const { result, json } = await home.runJson(['send', '--csv', csv, '--template', 'order_update', '--lang', 'en_US']);
    expect(result.exitCode).toBe(2);
    expect(json.error).toEqual({
      code: 'csv_columns',
      message: 'The CSV lacks the column "2".',
      hint: 'Template order_update (en_US) needs the columns: to, header, 1, 2, button.0. The CSV has: to, header, 1, button.0.',
    });
    expect(sandbox.sent()).toEqual([]);
    expect(home.outbox()).toEqual([]);
  });

  it('fills a named template from columns named after its parameters; --dry-run prints each row\'s body', async () => {
    const csv = writeCsv(home.dir, 'welcome.csv', 'to,first_name,shop\n"+1 555 000 2001","Ana","Lumen, Inc."\n+15550002002,Bo,"The ""Best"" Shop"\n');
    const args = ['send', '--csv', csv, '--template', 'welcome', '--json'];
    const dry = await home.run([...args, '--dry-run']);
    expect(dry.exitCode).toBe(0);
    const dryRows = ndjson(dry.stdout).filter((e) => e.event === 'row');
    expect(dryRows).toStrictEqual([
      { event: 'row', line: 2, to: '15550002001', status: 'dry_run', body: welcomeBody('15550002001', 'Ana', 'Lumen, Inc.') },
      { event: 'row', line: 3, to: '15550002002', status: 'dry_run', body: welcomeBody('15550002002', 'Bo', 'The "Best" Shop') },
    ]);
    expect(sandbox.sent()).toEqual([]);
    expect(home.outbox()).toEqual([]);

    const real = await home.run(args);
    expect(real.exitCode).toBe(0);
    expect(sandbox.sent().map((s) => s.body).sort((a: any, b: any) => a.to.localeCompare(b.to))).toStrictEqual(dryRows.map((r) => r.body));

    // A dry run after it says what a re-run would do: the rows already sent are skipped, a new one would be sent
    writeCsv(home.dir, 'welcome.csv', 'to,first_name,shop\n"+1 555 000 2001","Ana","Lumen, Inc."\n+15550002002,Bo,"The ""Best"" Shop"\n+15550002003,Cy,Lumen\n');
    const again = await home.run([...args, '--dry-run']);
    expect(again.exitCode).toBe(0);
    expect(ndjson(again.stdout).filter((e) => e.event === 'row').map((r) => [r.line, r.status])).toEqual([
      [2, 'skipped'],
      [3, 'skipped'],
      [4, 'dry_run'],
    ]);
    expect(ndjson(again.stdout).find((e) => e.event === 'summary')).toMatchObject({ skipped: 2, dryRun: 1 });
    expect(sandbox.sent()).toHaveLength(2);
  });

  it('sends a row repeated in the CSV once', async () => {
    // Given the same recipient and values three times (the number written two ways)
    const csv = writeCsv(home.dir, 'dupes.csv', 'to,first_name,shop\n+15550004001,Ana,Lumen\n+15550004001,Ana,Lumen\n+1 555 000 4001,Ana,Lumen\n');
    const args = ['send', '--csv', csv, '--template', 'welcome', '--json'];
    // When it is sent, and sent again
    const first = await home.run(args);
    const second = await home.run(args);
    // Then Meta got it once, the copies are reported as such, and the re-run sends nothing more
    expect(acceptedSends(sandbox)).toHaveLength(1);
    expect(first.exitCode).toBe(0);
    expect(ndjson(first.stdout).filter((e) => e.status === 'sent')).toHaveLength(1);
    expect(ndjson(first.stdout).filter((e) => e.status === 'skipped').map((e) => e.error)).toEqual([
      'same message as line 2',
      'same message as line 2',
    ]);
    expect(ndjson(second.stdout).at(-1)).toMatchObject({ event: 'summary', sent: 0, skipped: 3 });
  });

  it('stops at a rejected token and exits 4, instead of failing every row the same way', async () => {
    const other = await startSandbox({ accessToken: 'EAAanotherTokenThatIsNotTheStoredOne1234' });
    try {
      const rows = Array.from({ length: 20 }, (_, i) => `+1555000${String(5000 + i)},Ana,Lumen`).join('\n');
      const csv = writeCsv(home.dir, 'auth.csv', `to,first_name,shop\n${rows}\n`);
      const { exitCode, stdout } = await home.run(['send', '--csv', csv, '--template', 'welcome', '--rate', '2', '--json'], {
        env: { LUMEN_GRAPH_URL: other.url },
      });
      expect(exitCode).toBe(4);
      expect(ndjson(stdout).filter((e) => e.status === 'failed').length).toBeLessThan(20);
      // The error document is the last line, after the rows' NDJSON.
      expect(JSON.parse(stdout.trim().split('\n').at(-1)!).error.code).toBe('auth_invalid_token');
    } finally {
      await other.close();
    }
  });

  it('holds every row for approval under policy "templates" (exit 8)', async () => {
    await home.run(['approvals', 'policy', 'templates']);
    const csv = writeCsv(home.dir, 'held.csv', 'to,first_name,shop\n+15550003001,Ana,Lumen\n+15550003002,Bo,Lumen\n');
    const { exitCode, stdout } = await home.run(['send', '--csv', csv, '--template', 'welcome', '--json']);
    expect(exitCode).toBe(8);
    expect(ndjson(stdout).at(-1)).toMatchObject({ event: 'summary', pendingApproval: 2, sent: 0 });
    expect(sandbox.sent()).toEqual([]);
    expect((await home.runJson(['approvals', 'list'])).json).toHaveLength(2);
  });
});

describe('lumen messages show', () => {
  connectedHomePerTest();

  it('says an unknown id is not found, with a hint (exit 1)', async () => {
    const { result, json } = await home.runJson(['messages', 'show', 'msg_000000000000000000000000']);
    expect(result.exitCode).toBe(1);
    expect(json.error).toEqual({
      code: 'message_not_found',
      message: 'No message "msg_000000000000000000000000" in workspace default.',
      hint: 'Give an id lumen printed (msg_… for a sent message, in_… for a received one) or a wamid; `lumen messages list` lists both.',
    });
    const human = await home.run(['messages', 'show', 'wamid.nope']);
    expect(human.exitCode).toBe(1);
    expect(human.stderr).toBe(
      'Error: No message "wamid.nope" in workspace default.\nHint: Give an id lumen printed (msg_… for a sent message, in_… for a received one) or a wamid; `lumen messages list` lists both.',
    );
  });
});
