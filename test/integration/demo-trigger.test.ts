import { createHmac } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseSignatureHeader, verifySignature } from '../../src/relay/signature.js';
import { INBOUND_TYPES, startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { eventually } from '../helpers/async.js';
import { lumen, runLumen } from '../helpers/cli.js';
import { makeHome, withDb, type LumenHome } from '../helpers/home.js';
import { connectNumber, killAllRelays, startForwardTarget, startRelay } from '../helpers/relay.js';

describe('lumen demo', () => {
  it('runs the whole loop, one line per step, and cleans up after itself', async () => {
    const home = makeHome();
    try {
      const result = await lumen(['demo'], { env: home.env }); // as README's first command runs it
      expect(result.exitCode).toBe(0);
      const steps = result.stderr.trim().split('\n');
      const expected = [
        /^✓ Sandbox Cloud API .* on http:\/\/127\.0\.0\.1:\d+$/,
        /^✓ Connected \+1 555-010-4242 \(Lumen Sandbox\): app subscribed, 7 templates synced \(5 approved\)$/,
        /^✓ Relay on http:\/\/127\.0\.0\.1:\d+\/webhooks\/whatsapp\/wa_[0-9a-f]{32} /,
        /^✓ ← "Hi! Where is my order #1042\?" from \+15551234567 \(Ana\): signed webhook verified and stored as in_1$/,
        /^✓ Handed to the built-in demo handler/,
        /^✓ → reply with 2 buttons, sent through lumen's outbox and accepted by Meta \(wamid\./,
        /^✓ ← "When will it arrive\?" tapped; → your code's answer accepted \(wamid\./,
        /^✓ → template order_update \(en_US\)/,
        /^✓ All three messages went sent → delivered → read/,
      ];
      expect(steps).toHaveLength(expected.length);
      steps.forEach((line, i) => expect(line).toMatch(expected[i]!));
      expect(result.stdout).toContain('The whole loop works on this machine');
      expect(result.stdout).toContain('lumen whatsapp connect');
      // The user's own LUMEN_HOME was not used.
      expect(existsSync(`${home.dir}/lumen.db`)).toBe(false);
    } finally {
      home.cleanup();
    }
  });

  it('keeps its state with --keep and reports it with --json', async () => {
    const home = makeHome();
    try {
      const result = await runLumen(['demo', '--keep', '--json'], { env: home.env });
      expect(result.exitCode).toBe(0);
      const doc = JSON.parse(result.stdout);
      expect(doc).toMatchObject({ ok: true, inbound: { id: 'in_1', from: '15551234567' } });
      expect(doc.sent.map((m: { kind: string }) => m.kind)).toEqual(['interactive', 'text', 'template']);
      expect(existsSync(`${doc.home}/lumen.db`)).toBe(true);
      const keptEnv = { env: { ...home.env, LUMEN_HOME: doc.home } };
      const kept = await lumen(['messages', 'list', '--direction', 'in', '--json', '--workspace', 'demo'], keptEnv);
      expect(JSON.parse(kept.stdout).map((m: { text: string }) => m.text)).toEqual(['[button] When will it arrive? (track)', 'Hi! Where is my order #1042?']);
      // Both directions by default: the three messages the demo sent are listed too
      const all = JSON.parse((await lumen(['messages', 'list', '--json', '--workspace', 'demo'], keptEnv)).stdout) as Array<{ direction: string; id: string }>;
      expect(all.filter((m) => m.direction === 'out').map((m) => m.id).sort()).toEqual(doc.sent.map((m: { id: string }) => m.id).sort());
      rmSync(doc.home, { recursive: true, force: true });
    } finally {
      home.cleanup();
    }
  });
});

describe('lumen trigger and sandbox webhooks', () => {
  let sandbox: SandboxHandle;
  let home: LumenHome;
  let env: Record<string, string>;

  beforeAll(async () => {
    sandbox = await startSandbox({ webhookDelayMs: 20, webhookRetryBaseMs: 50 });
  });
  afterAll(() => sandbox.close());
  beforeEach(() => {
    sandbox.reset();
    home = makeHome({ sandbox });
    env = home.env;
  });
  afterEach(async () => {
    await killAllRelays();
    sandbox.setWebhookUrl(undefined);
    home.cleanup();
  });

  it('triggers every message type, a status and a batch at a running relay', async () => {
    await connectNumber(env, sandbox.phoneNumberId, sandbox.wabaId);
    const relay = await startRelay(env);
    for (const type of INBOUND_TYPES) {
      const result = await runLumen(['trigger', 'message', '--type', type, '--text', `a ${type}`, '--json'], { env });
      expect(result.exitCode, type).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ status: 200, response: { status: 'received', messages: 1 } });
    }
    const stored = JSON.parse((await runLumen(['messages', 'list', '--limit', '50', '--json'], { env })).stdout) as Array<{ type: string; text: string }>;
    expect(stored.map((m) => m.type).sort()).toEqual([...INBOUND_TYPES].sort());
    expect(stored.find((m) => m.type === 'text')!.text).toBe('a text');
    expect(stored.find((m) => m.type === 'image')!.text).toMatch(/^\[image\] a image/);
    expect(stored.find((m) => m.type === 'location')!.text).toMatch(/^\[location\] a location/);

    const status = await runLumen(['trigger', 'status', '--wamid', 'wamid.TEST', '--status', 'read', '--json'], { env });
    expect(JSON.parse(status.stdout).response).toEqual({ status: 'ignored' });

    const batch = await runLumen(['trigger', 'batch', '--messages', '3', '--statuses', '2', '--json'], { env });
    expect(JSON.parse(batch.stdout).response).toEqual({ status: 'received', messages: 3 });
    expect(relay.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('says clearly when no relay answers', async () => {
    await connectNumber(env, sandbox.phoneNumberId, sandbox.wabaId);
    const result = await runLumen(['trigger', 'message', '--url', 'http://127.0.0.1:9/webhooks/whatsapp/x'], { env });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('No relay answered at http://127.0.0.1:9');
    const badType = await runLumen(['trigger', 'message', '--type', 'hologram'], { env });
    expect(badType.exitCode).toBe(2);
  });

  it('signs what it sends like Meta: escaped non-ASCII, HMAC over the exact bytes', async () => {
    const receiver = await startForwardTarget();
    sandbox.setWebhookUrl(receiver.url);
    try {
      sandbox.sendInbound([{ from: '15551234567', name: 'Zoë', text: 'Olá 👍' }]);
      await sandbox.webhooksIdle();
      const [delivery] = receiver.requests.map((r) => ({ body: r.raw, headers: r.headers }));
      expect(delivery).toBeDefined();
      const text = delivery!.body.toString('latin1');
      expect(/^[\x20-\x7e]*$/.test(text)).toBe(true); // pure ASCII on the wire
      expect(text).toContain('Ol\\u00e1 \\ud83d\\udc4d');
      expect(JSON.parse(delivery!.body.toString()).entry[0].changes[0].value.messages[0].text.body).toBe('Olá 👍');
      // An independent HMAC, and the relay's own verifier, both accept it.
      const independent = `sha256=${createHmac('sha256', sandbox.appSecret).update(delivery!.body).digest('hex')}`;
      expect(delivery!.headers['x-hub-signature-256']).toBe(independent);
      expect(verifySignature(delivery!.body, parseSignatureHeader(delivery!.headers['x-hub-signature-256'])!, sandbox.appSecret)).toBe(true);
      expect(delivery!.headers['user-agent']).toBe('facebookexternalua');
    } finally {
      await receiver.close();
    }
  });

  it('retries a delivery that got a 500, and the relay stores it once', async () => {
    // Given a receiver that fails the first attempt, then passes everything to the real relay
    const connection = await connectNumber(env, sandbox.phoneNumberId, sandbox.wabaId);
    const relay = await startRelay(env);
    let attempts = 0;
    const proxy = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        attempts += 1;
        if (attempts === 1) return res.writeHead(500).end();
        const answer = await fetch(`${relay.url}${connection.path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-hub-signature-256': String(req.headers['x-hub-signature-256']) },
          body: Buffer.concat(chunks),
        });
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(await answer.text());
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    sandbox.setWebhookUrl(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`);
    try {
      // When the sandbox delivers an inbound message
      const queued = sandbox.sendInbound([{ from: '15551234567', text: 'retry me' }])!;
      await sandbox.webhooksIdle();
      // Then it tried twice and the message is stored once
      const delivery = sandbox.webhooks().find((d) => d.id === queued.id);
      expect(delivery).toMatchObject({ delivered: true, attempts: 2, results: [500, 200] });
      const count = withDb(home.dir, (db) => db.prepare("SELECT COUNT(*) AS n FROM interactions WHERE text = 'retry me'").get() as { n: number });
      expect(count.n).toBe(1);
    } finally {
      proxy.close();
    }
  });

  it('posts sent, delivered and read statuses after a send, which move the message to read', async () => {
    const connection = await connectNumber(env, sandbox.phoneNumberId, sandbox.wabaId);
    const relay = await startRelay(env);
    sandbox.setWebhookUrl(`${relay.url}${connection.path}`);
    const sent = await runLumen(['send', '--to', '15551234567', '--template', 'hello_world', '--json'], { env });
    expect(sent.exitCode).toBe(0);
    const id = JSON.parse(sent.stdout).id as string;
    await sandbox.webhooksIdle();
    const shown = await eventually(async () => {
      const doc = JSON.parse((await runLumen(['messages', 'show', id, '--json'], { env })).stdout);
      expect(doc.state).toBe('read');
      return doc;
    });
    expect(shown.timeline.map((t: { status: string }) => t.status)).toEqual(['sent', 'delivered', 'read']);
  });
});
