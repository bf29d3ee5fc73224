/**
 * The relay while its PostgreSQL server is away: a PostgreSQL server of this test's own (the run's shared one must stay
 * up for the other files), the real relay in process (startRelay on 127.0.0.1) with a forward target as the user's
 * code. Stopping the server: signed deliveries get 503 with Retry-After (Meta retries), /readyz says the database is
 * unreachable, /healthz still answers. Starting it again: the same relay, never restarted, takes the retried delivery
 * (200), is ready again, and hands it on to the user's code.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayEvent } from '../../src/relay/events.js';
import { startRelay, type RelayHandle } from '../../src/relay/server.js';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { describeSystemFault } from '../../src/store/faults.js';
import { openPgDatabase } from '../../src/store/pg/db.js';
import { openPgStore } from '../../src/store/pg/index.js';
import type { Integration } from '../../src/store/types.js';
import { eventually } from '../helpers/async.js';
import { freshDatabase, pgRepositoriesMissing, postgres, startPostgresServer, type PostgresServer } from '../helpers/postgres.js';
import { postSigned, request, startForwardTarget, type ForwardTarget } from '../helpers/relay.js';
import { connectedHome, type ConnectedHome } from '../helpers/services.js';
import { textDelivery } from '../helpers/webhooks.js';

const { skip: noServer } = postgres();
const noRepositories = await pgRepositoriesMissing();

let server: PostgresServer;

describe.skipIf(!!noServer)(noServer ? `PostgreSQL away (${noServer})` : 'PostgreSQL away', () => {
  beforeAll(async () => {
    const started = await startPostgresServer();
    if ('skip' in started) throw new Error(`a second PostgreSQL server would not start: ${started.skip}`);
    server = started;
  });
  afterAll(() => server?.remove());

  describe('the pool', () => {
    it('reports the server gone as a one-line fault the relay answers with 503, and reconnects by itself', async () => {
      const database = await freshDatabase('lumen_pool', server.url);
      const db = await openPgDatabase(database.url, { max: 2 });
      try {
        expect(await db.get('SELECT 1 AS one')).toEqual({ one: 1 });
        server.stop();
        const error = await db.get('SELECT 1 AS one').then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toMatchObject({ code: 'database_unavailable', kind: 'unavailable' });
        expect((error as Error).message.split('\n')).toHaveLength(1);
        expect(describeSystemFault(error)?.code).toBe('database_unavailable');
        server.start();
        await eventually(async () => expect(await db.get('SELECT 1 AS one')).toEqual({ one: 1 }));
      } finally {
        server.start();
        await db.close();
        await database.drop();
      }
    });
  });

  describe.skipIf(!!noRepositories)(noRepositories ? `the relay (${noRepositories})` : 'the relay', () => {
    let database: Awaited<ReturnType<typeof freshDatabase>>;
    let sandbox: SandboxHandle;
    let connected: ConnectedHome;
    let integration: Integration;
    let relay: RelayHandle;
    let target: ForwardTarget;
    const events: RelayEvent[] = [];

    beforeAll(async () => {
      database = await freshDatabase('lumen_away', server.url);
      sandbox = await startSandbox({ webhookDelayMs: 5 });
      connected = await connectedHome(sandbox, { openStore: () => openPgStore(database.url) });
      integration = connected.integration;
      target = await startForwardTarget();
      relay = await startRelay(
        { ...connected.services(), onEvent: (event) => events.push(event) },
        { host: '127.0.0.1', port: 0, mediaDir: connected.home.path('media'), forwardTo: target.url, console: false, metrics: false },
      );
    });
    afterAll(async () => {
      server?.start(); // a relay closes cleanly with its database there
      await relay?.close();
      await target?.close();
      await connected?.close();
      await sandbox?.close();
    });

    const webhook = () => `${relay.url}/webhooks/whatsapp/${integration.id}`;
    const deliver = (wamid: string) =>
      postSigned(webhook(), textDelivery(sandbox.phoneNumberId, { wamid, from: '15551234567', body: `hello ${wamid}` }), sandbox.appSecret);
    const forwardedWamids = () => target.accepted().map((r) => JSON.parse(r.body).wamid as string);

    it('answers 503 while the server is down and recovers by itself when it is back', async () => {
      // Given a relay that stores and hands on a delivery
      const first = `wamid.${randomBytes(8).toString('hex')}`;
      expect((await deliver(first)).status).toBe(200);
      await eventually(() => expect(forwardedWamids()).toContain(first));
      expect((await request(`${relay.url}/readyz`)).status).toBe(200);

      // When the database server goes away
      server.stop();

      // Then a delivery is refused with 503 and Retry-After (Meta retries it), never acknowledged unstored
      const second = `wamid.${randomBytes(8).toString('hex')}`;
      const refused = await deliver(second);
      expect(refused.status, refused.text).toBe(503);
      expect(refused.json.error.code).toBe('unavailable');
      const ready = await request(`${relay.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(ready.json.reasons.join(' ')).toMatch(/database unreachable: .*PostgreSQL/);
      expect(ready.text).not.toContain(sandbox.appSecret);
      // The process runs: a load balancer tells "down" (healthz) from "not ready" (readyz).
      expect((await request(`${relay.url}/healthz`)).status).toBe(200);

      // When the server is back, with the relay untouched
      server.start();

      // Then Meta's retry of the refused delivery is taken, the relay is ready, and the user's code gets the message
      await eventually(async () => { const r = await deliver(second); expect(r.status, r.text).toBe(200); });
      await eventually(async () => expect((await request(`${relay.url}/readyz`)).status).toBe(200));
      await eventually(() => expect(forwardedWamids()).toContain(second));
      expect(forwardedWamids().filter((w) => w === second)).toHaveLength(1);
    });
  });
});
