/**
 * `lumen relay start` end to end, its lifecycle: SIGTERM finishes what is in flight, SIGKILL loses nothing
 * acknowledged, `lumen relay status` while it runs and after, and one relay per LUMEN_HOME. The built CLI as a child
 * process, a fresh LUMEN_HOME per test (see relay-home.ts).
 */
import { describe, expect, it } from 'vitest';
import { signBody } from '../../src/relay/signature.js';
import { eventually, inPool } from '../helpers/async.js';
import { lumen, runLumen } from '../helpers/cli.js';
import { withDb } from '../helpers/home.js';
import { postSigned, stalledDelivery, startRelay, startSlowPost, type RelayExit } from '../helpers/relay.js';
import {
  connection,
  env,
  home,
  lumenJson,
  messagesList,
  newWamid,
  sandbox,
  useRelayHome,
  webhookUrl,
} from '../helpers/relay-home.js';
import { textDelivery } from '../helpers/webhooks.js';

useRelayHome();

describe('lumen relay start: stopping', () => {
  it('finishes the requests in flight on SIGTERM: every 200 is stored, and it exits 0', async () => {
    // Given a relay receiving a steady stream of deliveries, and one delivery whose body is only half sent
    const relay = await startRelay(env);
    const slowWamid = newWamid('slow');
    const slowBody = textDelivery(sandbox.phoneNumberId, { wamid: slowWamid, from: '15555000002', body: 'still uploading' });
    const slow = startSlowPost(webhookUrl(relay.url), slowBody, {
      'content-type': 'application/json',
      'x-hub-signature-256': signBody(slowBody, sandbox.appSecret),
    });
    const wamids = Array.from({ length: 120 }, (_, i) => newWamid(`graceful${i}`));
    const acked: string[] = [];
    const outcomes: Array<number | 'network error'> = [];
    let stopping: Promise<RelayExit> | undefined;

    // When SIGTERM arrives on the 30th acknowledgment, with the other requests in flight
    await inPool(wamids, 8, async (wamid) => {
      try {
        const answer = await postSigned(
          webhookUrl(relay.url),
          textDelivery(sandbox.phoneNumberId, { wamid, from: '15555000001', body: wamid }),
          sandbox.appSecret,
        );
        outcomes.push(answer.status);
        if (answer.status === 200) acked.push(wamid);
      } catch {
        outcomes.push('network error');
      }
      if (acked.length >= 30 && !stopping) stopping = relay.stop();
    });
    expect(stopping).toBeDefined();
    await relay.waitForEvent((e) => e.event === 'stopping');
    // and the half-sent delivery completes only after the relay began stopping
    const slowAnswer = await slow.finish();
    const exit = await stopping!;

    // Then that delivery is answered and stored, the relay says it stopped, exits 0, and every 200 is in the database
    expect(slowAnswer.status).toBe(200);
    expect(slowAnswer.json).toEqual({ status: 'received', messages: 1 });
    expect(exit).toEqual({ exitCode: 0, signal: undefined });
    expect(relay.events.find((e) => e.event === 'stopping')).toEqual({ event: 'stopping', signal: 'SIGTERM' });
    expect(relay.events.at(-1)).toEqual({ event: 'stopped' });
    // A request either got its 200, a 503 while closing, or found the port closed: nothing else
    for (const outcome of outcomes) expect([200, 503, 'network error']).toContain(outcome);
    const stored = new Set(withDb(home.dir, (db) => db.prepare('SELECT wamid FROM interactions').pluck().all() as string[]));
    for (const wamid of [...acked, slowWamid]) expect(stored.has(wamid), wamid).toBe(true);
    expect((await messagesList(1000)).length).toBe(stored.size);
  });

  it('stops on SIGTERM while clients stall mid-headers and mid-body: cut off after the request deadline, never a 200', async () => {
    // Given a client that sent half a request line, and one whose delivery the relay has begun to receive (it
    // answered 100 Continue), neither sending more
    const relay = await startRelay(env);
    const halfLine = await stalledDelivery(webhookUrl(relay.url), { at: 'headers' });
    const stalled = await stalledDelivery(webhookUrl(relay.url));
    // When the relay is told to stop
    const exit = await relay.stop();
    // Then it stops (exit 0) once the deadline cut the client off, says so, and the client never got a 200
    expect(exit).toEqual({ exitCode: 0, signal: undefined });
    expect(relay.events.slice(-2)).toEqual([
      { event: 'error', message: expect.stringMatching(/^2 requests still arriving 15 s after the stop were cut off: /) },
      { event: 'stopped' },
    ]);
    expect(await stalled.closed).not.toContain('200 OK');
    expect(await halfLine.closed).toBe('');
  });

  it('loses no acknowledged delivery when killed with SIGKILL mid-stream', async () => {
    // Given a relay receiving 200 unique messages, 8 at a time
    const relay = await startRelay(env);
    const wamids = Array.from({ length: 200 }, (_, i) => newWamid(`kill${i}`));
    const acked: string[] = [];
    let killed: Promise<unknown> | undefined;

    // When it is killed -9 on the 80th acknowledgment, with the other requests in flight
    await inPool(wamids, 8, async (wamid) => {
      if (killed) return;
      try {
        const answer = await postSigned(
          webhookUrl(relay.url),
          textDelivery(sandbox.phoneNumberId, { wamid, from: '15556000001', body: wamid }),
          sandbox.appSecret,
        );
        if (answer.status === 200) acked.push(wamid);
      } catch {
        // the connection died with the process: not acknowledged, Meta would retry it
      }
      if (acked.length >= 80 && !killed) killed = relay.kill();
    });
    expect(await killed).toEqual({ exitCode: undefined, signal: 'SIGKILL' });

    // Then every delivery that got a 200 is in the database (read as left on disk, WAL included), once
    const rows = withDb(home.dir, (db) =>
      db.prepare<[], { wamid: string; n: number }>('SELECT wamid, COUNT(*) AS n FROM interactions GROUP BY wamid').all(),
    );
    const counts = new Map(rows.map((r) => [r.wamid, r.n]));
    for (const wamid of acked) expect(counts.get(wamid), wamid).toBe(1);
    expect([...counts.keys()].every((w) => wamids.includes(w))).toBe(true);
    // And the CLI agrees, and knows the relay is gone although its state file remains
    expect((await messagesList(1000)).length).toBe(rows.length);
    const status = await runLumen(['relay', 'status', '--json'], { env });
    expect(status.exitCode).toBe(0);
    expect(JSON.parse(status.stdout)).toEqual({ running: false });
  });
});

describe('lumen relay status', () => {
  it('reports the running relay and its URL, and {"running":false} with exit 0 once it is stopped (a state, not a failure)', async () => {
    // Given no relay
    const before = await runLumen(['relay', 'status', '--json'], { env });
    expect(before.exitCode).toBe(0);
    expect(JSON.parse(before.stdout)).toEqual({ running: false });
    const human = await lumen(['relay', 'status'], { env });
    expect(human.exitCode).toBe(0);
    expect(human.stdout).toContain('No relay is running here');

    // When one runs
    const relay = await startRelay(env);
    const running = await runLumen(['relay', 'status', '--json'], { env });
    expect(running.exitCode).toBe(0);
    expect(JSON.parse(running.stdout)).toMatchObject({ running: true, pid: relay.pid, url: relay.url, publicUrl: null });

    // Then after it stops, status says so
    expect((await relay.stop()).exitCode).toBe(0);
    const after = await runLumen(['relay', 'status', '--json'], { env });
    expect(after.exitCode).toBe(0);
    expect(JSON.parse(after.stdout)).toEqual({ running: false });
  });
});

describe('one relay per LUMEN_HOME', () => {
  it('refuses a second relay on the same home (it would hand messages on twice) and leaves the first in charge', async () => {
    // Given a running relay
    const first = await startRelay(env);
    // When a second one starts on the same LUMEN_HOME
    const second = await lumen(['relay', 'start', '--port', '0', '--json'], { env });
    // Then it refuses, naming the first, and status still points at the first
    expect(second.exitCode).toBe(1);
    const error = JSON.parse(second.stdout).error;
    expect(error.code).toBe('relay_running');
    expect(error.message).toContain(`pid ${first.pid}`);
    const status = await lumenJson(['relay', 'status']);
    expect(status).toMatchObject({ pid: first.pid, url: first.url });
  });

  it('lets only one of two relays started at the same moment run (the database holds the lease, not relay.json)', async () => {
    // Given two relays started together on one LUMEN_HOME, before either has written relay.json
    const outcomes = await Promise.allSettled([startRelay(env), startRelay(env)]);
    // Then exactly one listens and the other refused with relay_running
    const started = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [String(o.reason)] : []));
    expect(started).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toContain('"code":"relay_running"');
    expect(refused[0]).toContain(`pid ${started[0]!.pid}`);
  });

  it('refuses a relay started while the first is still stopping, so the message in flight is handed on once', async () => {
    // Given a relay whose --exec handler is working on a message (it finishes once the test lets it)
    const { existsSync, readFileSync, writeFileSync } = await import('node:fs');
    const [runs, working, finish] = [home.path('runs'), home.path('working'), home.path('finish')];
    const handler = `cat > /dev/null; echo run >> ${runs}; touch ${working}; while [ ! -e ${finish} ]; do sleep 0.02; done`;
    const first = await startRelay(env, ['--exec', handler]);
    const answer = await postSigned(
      webhookUrl(first.url),
      textDelivery(sandbox.phoneNumberId, { wamid: newWamid('inflight'), from: '15555000009', body: 'once please' }),
      sandbox.appSecret,
    );
    expect(answer.status, answer.text).toBe(200);
    await eventually(() => expect(existsSync(working)).toBe(true));
    // When it is told to stop (it waits for the handler) and a second relay starts meanwhile
    const stopping = first.stop();
    await first.waitForEvent((e) => e.event === 'stopping');
    const second = await startRelay(env, ['--exec', handler]).then(
      (relay) => relay,
      (error: unknown) => error as Error,
    );
    // Then the second is refused, naming the first
    expect(second).toBeInstanceOf(Error);
    expect(String(second)).toContain('"code":"relay_running"');
    expect(String(second)).toContain(`pid ${first.pid}`);
    // and once the handler finishes the first exits 0, having run it once; a relay may start after it
    writeFileSync(finish, '');
    expect(await stopping).toEqual({ exitCode: 0, signal: undefined });
    expect(readFileSync(runs, 'utf8')).toBe('run\n');
    const next = await startRelay(env);
    expect((await next.stop()).exitCode).toBe(0);
  });
});
