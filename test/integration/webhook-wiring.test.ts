/**
 * lumen registers its own Callback URL, in process: the real relay (startRelay on 127.0.0.1), a real SQLite file, the
 * sandbox over HTTP as the Graph API playing Meta's side (the GET handshake against the relay during the call).
 */
import { mkdirSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { GraphClient } from '../../src/graph/client.js';
import { GraphError } from '../../src/graph/errors.js';
import { SEND_ERROR_REASONS } from '../../src/graph/explain.js';
import { getWebhookConfiguration, registerCallbackUrl } from '../../src/graph/webhooks.js';
import type { RelayEvent } from '../../src/relay/events.js';
import { startRelay, type RelayHandle } from '../../src/relay/server.js';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import type { ServiceDeps } from '../../src/services/deps.js';
import { databaseStatus } from '../../src/services/db.js';
import { runDoctor, type DoctorInputs } from '../../src/services/doctor.js';
import { whatsappStatus } from '../../src/services/whatsapp/status.js';
import { checkPublicUrl } from '../../src/services/whatsapp/validate.js';
import type { Integration, Store, Workspace } from '../../src/store/types.js';
import type { LumenHome } from '../helpers/home.js';
import { eventually } from '../helpers/async.js';
import { freePort } from '../helpers/relay.js';
import { connectedHome, sandboxServices, type ConnectedHome } from '../helpers/services.js';

let sandbox: SandboxHandle;
let connected: ConnectedHome;
let home: LumenHome;
let store: Store;
let workspace: Workspace;
let integration: Integration;
let events: RelayEvent[];
let clients: GraphClient[];
const relays: RelayHandle[] = [];

beforeAll(async () => {
  sandbox = await startSandbox({ webhookDelayMs: 5 });
});
afterAll(() => sandbox.close());
beforeEach(async () => {
  sandbox.reset();
  sandbox.setWebhookUrl(undefined);
  connected = await connectedHome(sandbox, { version: 'v25.0' });
  ({ home, store, workspace, integration, clients } = connected);
  events = [];
});
afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.close()));
  await connected.close();
});

function services(): ServiceDeps {
  return connected.services();
}

/** A relay listening on a port chosen first, so its public URL (loopback, as for the sandbox) is known up front. */
async function start(): Promise<RelayHandle> {
  const port = await freePort();
  const relay = await startRelay(
    { ...services(), onEvent: (event) => events.push(event) },
    { host: '127.0.0.1', port, publicUrl: `http://127.0.0.1:${port}`, mediaDir: home.path('media') },
  );
  relays.push(relay);
  return relay;
}

const callbackOf = (relay: RelayHandle) => `${relay.publicUrl}/webhooks/whatsapp/${integration.id}`;

describe('relay start registers its Callback URL', () => {
  it("sets the number's override with a fresh verify token; Meta's handshake reaches the relay; deliveries follow", async () => {
    const relay = await start();
    const before = (await store.integrations.findById(integration.id))!.verifyTokenHash;

    const [registration] = await relay.register('phone');

    expect(registration).toMatchObject({ integrationId: integration.id, url: callbackOf(relay), scope: 'phone', ok: true });
    // The handshake happened against the relay during the call, with the new token (the stored hash moved).
    expect(events).toContainEqual({ event: 'handshake', integrationId: integration.id, ok: true });
    expect(events).toContainEqual(expect.objectContaining({ event: 'registration', ok: true, url: callbackOf(relay) }));
    const after = (await store.integrations.findById(integration.id))!;
    expect(after.verifyTokenHash).not.toBe(before);
    expect(after.publicUrl).toBe(relay.publicUrl);
    const graph = await services().graphFor(integration);
    expect(await getWebhookConfiguration(graph, integration.phoneNumberId)).toEqual({
      phoneNumber: callbackOf(relay),
      whatsappBusinessAccount: null,
      application: null,
    });

    // And Meta now posts this number's webhooks there: no URL was handed to the sandbox by hand.
    sandbox.sendInbound([{ from: '15551234567', text: 'found you' }]);
    await eventually(async () => expect(await store.inbox.listInteractions({ workspaceId: workspace.id, limit: 5 })).toHaveLength(1));
  });

  it("with --callback-scope waba sets the WABA's override, read back on subscribed_apps and webhook_configuration", async () => {
    const relay = await start();
    const [registration] = await relay.register('waba');
    expect(registration).toMatchObject({ ok: true, scope: 'waba' });
    const graph = await services().graphFor(integration);
    const apps = await graph.get<{ data: Array<Record<string, unknown>> }>(`${sandbox.wabaId}/subscribed_apps`);
    expect(apps.data).toEqual([expect.objectContaining({ override_callback_uri: callbackOf(relay) })]);
    expect((await getWebhookConfiguration(graph, integration.phoneNumberId)).whatsappBusinessAccount).toBe(callbackOf(relay));
    expect(sandbox.webhookTarget()).toBe(callbackOf(relay));
    expect(registration!.warning).toBeUndefined();
  });

  it("at the WABA's scope says so when the number's own override (an earlier relay's) still wins, instead of a bare ✓", async () => {
    const first = await start();
    expect((await first.register('phone'))[0]).toMatchObject({ ok: true });
    const firstUrl = callbackOf(first);
    await first.close();
    const second = await start();
    const [registration] = await second.register('waba');
    expect(registration).toMatchObject({ ok: true, scope: 'waba' });
    expect(registration!.warning).toMatch(new RegExp(`^the number's own Callback URL \\(${firstUrl.replace(/[.]/g, '\\.')}\\) wins over the WABA's: Meta delivers there, not here\\. Start the relay with --callback-scope phone`));
    expect(sandbox.webhookTarget()).toBe(firstUrl);
  });

  it('a wrong verify token is refused as Meta refuses it (2200), and nothing changes at Meta', async () => {
    const relay = await start();
    const graph = await services().graphFor(integration);
    const refused = await registerCallbackUrl(
      graph,
      { scope: 'phone', phoneNumberId: integration.phoneNumberId, wabaId: integration.wabaId },
      callbackOf(relay),
      'lvt_not-the-token-lumen-holds',
    ).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(GraphError);
    expect(refused).toMatchObject({ code: 2200 });
    expect((refused as GraphError).message).toContain('HTTP Status Code = 403');
    expect(events).toContainEqual({ event: 'handshake', integrationId: integration.id, ok: false });
    expect(sandbox.webhookTarget()).toBeUndefined();
  });

  it('a URL that does not reach this number is refused, reported with a hint, and the previous verify token kept', async () => {
    const relay = await start();
    const before = (await store.integrations.findById(integration.id))!.verifyTokenHash;
    const { registerWebhook } = await import('../../src/services/whatsapp/webhook.js');
    // Given a public URL whose path answers 404 (not this relay's webhook path)
    const outcome = await registerWebhook(services(), integration, { publicUrl: `${relay.url}/elsewhere`, scope: 'phone' });
    expect(outcome.ok).toBe(false);
    expect(outcome.error).toMatchObject({ code: 'callback_not_verified' });
    expect(outcome.error!.message).toContain('HTTP Status Code = 404');
    expect(outcome.error!.hint).toContain('/healthz');
    expect((await store.integrations.findById(integration.id))!.verifyTokenHash).toBe(before);
    expect(sandbox.webhookTarget()).toBeUndefined();
  });

  it('a second start behind a new URL registers again, and Meta follows it', async () => {
    const first = await start();
    expect((await first.register('phone'))[0]!.ok).toBe(true);
    await first.close();
    relays.splice(relays.indexOf(first), 1);

    const second = await start();
    expect(second.publicUrl).not.toBe(first.publicUrl);
    expect((await second.register('phone'))[0]!.ok).toBe(true);
    expect(sandbox.webhookTarget()).toBe(callbackOf(second));
    expect(events.filter((e) => e.event === 'handshake' && e.ok)).toHaveLength(2);

    const status = await whatsappStatus(services(), workspace, { check: true, relayPublicUrl: second.publicUrl });
    expect(status.integrations[0]!.webhook.meta).toMatchObject({ callbackUrl: callbackOf(second), pointsHere: true, appSubscribed: true });
    expect(status.integrations[0]!.check).toMatchObject({ ok: true, problems: [] });
  });
});

describe('where Meta sends the webhooks, read back', () => {
  it('whatsapp status and doctor name a Callback URL that points elsewhere', async () => {
    // Given the app's Callback URL (the dashboard's) is some other server, and lumen's relay is at another URL
    sandbox.setWebhookUrl('http://127.0.0.1:9/somebody-else');
    const ours = 'https://relay.example.dev';

    const status = await whatsappStatus(services(), workspace, { check: true, relayPublicUrl: ours });
    const [number] = status.integrations;
    expect(number!.webhook.meta).toMatchObject({
      callbackUrl: 'http://127.0.0.1:9/somebody-else',
      configuration: { application: 'http://127.0.0.1:9/somebody-else', phoneNumber: null, whatsappBusinessAccount: null },
      expectedUrl: `${ours}/webhooks/whatsapp/${integration.id}`,
      pointsHere: false,
    });
    expect(number!.check!.ok).toBe(false);
    expect(number!.check!.problems).toEqual([
      `Meta delivers to http://127.0.0.1:9/somebody-else, not to ${ours}/webhooks/whatsapp/${integration.id}`,
    ]);

    const report = await runDoctor(services(), doctorInputs({ relay: { url: 'http://127.0.0.1:1', publicUrl: ours, tunnel: null } }));
    expect(report.ok).toBe(false);
    const callback = report.checks.find((c) => c.id === 'callback')!;
    expect(callback).toMatchObject({ status: 'fail', integration: integration.label });
    expect(callback.detail).toContain('Meta delivers to http://127.0.0.1:9/somebody-else');
    expect(callback.fix).toContain('--public-url');
  });

  it("this app is matched by id: another app's subscription is not this one's", async () => {
    // Given the WABA has a subscribed app, but the token belongs to another app (the sandbox's app id changed)
    const graph = await services().graphFor(integration);
    const sandboxApp = sandbox.status().app.id;
    const { readWebhookState } = await import('../../src/services/whatsapp/webhook.js');
    const state = await readWebhookState(services(), integration, null);
    expect(state).toMatchObject({ appId: sandboxApp, appSubscribed: true, subscribedAppIds: [sandboxApp] });
    await graph.delete(`${sandbox.wabaId}/subscribed_apps`);
    const unsubscribed = await whatsappStatus(services(), workspace, { check: true });
    expect(unsubscribed.integrations[0]!.appSubscribed).toBe(false);
    expect(unsubscribed.integrations[0]!.check!.problems[0]).toContain('app not subscribed');
  });

  it('doctor runs every check, each with a fix when it fails, and passes when everything is in place', async () => {
    const relay = await start();
    expect((await relay.register('phone'))[0]!.ok).toBe(true);
    const report = await runDoctor(services(), doctorInputs({ relay: { url: relay.url, publicUrl: relay.publicUrl, tunnel: null } }));
    expect(report.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.id)).toEqual([
      'node', 'home', 'database', 'secrets', 'clock', 'token', 'number', 'subscription', 'callback', 'templates', 'relay', 'tunnel',
    ]);
    expect(report.checks.find((c) => c.id === 'number')!.detail).toBe(
      'status CONNECTED, quality GREEN, throughput STANDARD, messaging limit TIER_1K',
    );

    // A token without the messaging scope, an old Node, a missing tunnel tool and a skewed clock each fail with a fix.
    const scoped = await startSandbox({ tokenScopes: ['whatsapp_business_management'] });
    try {
      const narrow = sandboxServices({ store, secrets: connected.secrets, sandbox: scoped, clients, version: 'v25.0' });
      const failing = await runDoctor(
        narrow,
        doctorInputs({ nodeVersion: '20.11.1', tunnel: 'cloudflared', installed: () => false, graphDate: async () => new Date(Date.now() - 3_600_000) }),
      );
      const byId = Object.fromEntries(failing.checks.map((c) => [c.id, c]));
      expect(byId.token).toMatchObject({ status: 'fail', detail: 'the token lacks whatsapp_business_messaging' });
      expect(byId.node).toMatchObject({ status: 'fail', fix: 'Install Node.js 20.19.0 or newer.' });
      expect(byId.tunnel).toMatchObject({ status: 'fail', detail: 'cloudflared is not on PATH' });
      expect(byId.clock!.detail).toContain('ahead of the Graph API');
      expect(byId.relay).toMatchObject({ status: 'fail', detail: 'not running for this LUMEN_HOME' });
      for (const check of failing.checks.filter((c) => c.status === 'fail')) expect(check.fix, check.id).toBeTruthy();
    } finally {
      await scoped.close();
    }
  });
});

describe('the sandbox keeps and checks webhook URLs', () => {
  it('refuses URLs that are not URLs (the README placeholder included) and keeps its webhook URL across restarts', async () => {
    const dir = home.path('sandbox');
    mkdirSync(dir);
    const stateFile = `${dir}/sandbox.json`;
    const first = await startSandbox({ stateFile });
    try {
      for (const url of ['http://127.0.0.1:8787/webhooks/whatsapp/<integration id>', 'not-a-url', 'ftp://127.0.0.1/x']) {
        const answer = await fetch(`${first.url}/_sandbox/webhook`, { method: 'POST', body: JSON.stringify({ url }) });
        expect(answer.status, url).toBe(400);
      }
      const set = await fetch(`${first.url}/_sandbox/webhook`, { method: 'POST', body: JSON.stringify({ url: 'http://127.0.0.1:8787/webhooks/whatsapp/wa_1' }) });
      expect(set.status).toBe(200);
    } finally {
      await first.close();
    }
    const second = await startSandbox({ stateFile });
    try {
      expect(second.webhookTarget()).toBe('http://127.0.0.1:8787/webhooks/whatsapp/wa_1');
    } finally {
      await second.close();
    }
  });
});

describe('inputs', () => {
  it('a public URL is https, or http on a loopback address only (for the sandbox)', () => {
    expect(checkPublicUrl('https://relay.example.dev')).toBe(true);
    expect(checkPublicUrl('http://127.0.0.1:8787')).toBe(true);
    expect(checkPublicUrl('http://localhost:8787')).toBe(true);
    expect(checkPublicUrl('http://relay.example.dev')).toMatch(/must use https/);
    expect(checkPublicUrl('https://x.example/<id>')).toMatch(/not a valid URL/);
  });

  it("the sandbox's statuses have the v24+ shape: pricing, no conversation object", async () => {
    const { statusPayload } = await import('../../src/sandbox/payloads.js');
    const payload = statusPayload(
      { wabaId: sandbox.wabaId, phoneNumberId: sandbox.phoneNumberId, displayPhoneNumber: '15550104242' },
      [{ wamid: 'wamid.X', status: 'delivered', recipient: '15551234567' }],
    );
    const status = (payload.entry[0]!.changes[0]!.value as unknown as { statuses: Array<Record<string, unknown>> }).statuses[0]!;
    expect(status).not.toHaveProperty('conversation');
    expect(status).toHaveProperty('pricing');
    // A failed one carries Meta's title for its own code, not 131026's
    const failed = statusPayload(
      { wabaId: sandbox.wabaId, phoneNumberId: sandbox.phoneNumberId, displayPhoneNumber: '15550104242' },
      [{ wamid: 'wamid.Y', status: 'failed', recipient: '15551234567', errorCode: 131047 }],
    );
    const [error] = (failed.entry[0]!.changes[0]!.value as unknown as { statuses: Array<{ errors: Array<Record<string, unknown>> }> }).statuses[0]!.errors;
    expect(error).toMatchObject({ code: 131047, title: 'Re-engagement message' });
  });

  it('the newer Graph error codes have reasons and hints', () => {
    for (const code of [131062, 131063, 137000, 131037, 130497, 131049]) {
      expect(SEND_ERROR_REASONS[code]?.reason, String(code)).toBeTruthy();
      expect(SEND_ERROR_REASONS[code]?.hint, String(code)).toBeTruthy();
    }
  });
});

function doctorInputs(overrides: Partial<DoctorInputs> = {}): DoctorInputs {
  return {
    nodeVersion: process.versions.node,
    minimumNode: '20.19.0',
    home: home.dir,
    writeProbe: async () => {},
    databaseStatus: () => databaseStatus({ databasePath: home.path('lumen.db') }),
    openStore: async () => store,
    relay: undefined,
    healthz: async (url) => (await fetch(`${url}/healthz`)).ok,
    graphDate: async () => new Date(),
    installed: () => true,
    ...overrides,
  };
}
