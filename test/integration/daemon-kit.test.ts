/**
 * The kit a relay needs to run for months, through the built CLI and a real relay on 127.0.0.1 (the sandbox as the
 * Graph API): relay stop, install-service / uninstall-service (into a temporary HOME and XDG_CONFIG_HOME, never
 * enabled), --log-file, /readyz, /metrics, events drop, backup under ingest load, retention, export, completion.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { commands } from '../../src/cli/commands/index.js';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { eventually, inPool } from '../helpers/async.js';
import { BIN, lumen } from '../helpers/cli.js';
import { makeHome, withDb, type LumenHome } from '../helpers/home.js';
import {
  connectNumber,
  killAllRelays,
  postSigned,
  readSigningSecret,
  request,
  startForwardTarget,
  startRelay,
  type Connection,
  type ForwardTarget,
} from '../helpers/relay.js';
import { textDelivery } from '../helpers/webhooks.js';

let sandbox: SandboxHandle;
let home: LumenHome;
let env: Record<string, string>;
let connection: Connection;
const targets: ForwardTarget[] = [];

beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => {
  await sandbox.close();
});
beforeEach(async () => {
  sandbox.reset();
  home = makeHome({ sandbox, env: { XDG_CONFIG_HOME: '' } });
  env = { ...home.env, XDG_CONFIG_HOME: home.path('xdg-config') };
  connection = await connectNumber(env, sandbox.phoneNumberId, sandbox.wabaId);
});
afterEach(async () => {
  await killAllRelays();
  await Promise.all(targets.splice(0).map((t) => t.close()));
  home.cleanup();
});

const webhookUrl = (relayUrl: string) => `${relayUrl}/webhooks/whatsapp/${connection.id}`;
let serial = 0;
const newWamid = (tag = 'm') => `wamid.KIT${tag}${Date.now().toString(36)}${(serial++).toString(36)}=`;
const post = (relayUrl: string, from = '15557000001') =>
  postSigned(webhookUrl(relayUrl), textDelivery(sandbox.phoneNumberId, { wamid: newWamid(), from, body: 'hi' }), sandbox.appSecret);

async function target(respond?: (index: number) => number): Promise<ForwardTarget> {
  const started = await startForwardTarget(respond);
  targets.push(started);
  return started;
}

async function lumenJson(args: string[], expectedExit = 0): Promise<any> {
  const result = await lumen([...args, '--json'], { env });
  expect(result.exitCode, `${args.join(' ')}: ${result.stdout}${result.stderr}`).toBe(expectedExit);
  return JSON.parse(result.stdout);
}

// ---------------------------------------------------------------------------------------------------------------

describe('lumen relay stop', () => {
  it('stops the running relay gracefully and waits for it to exit; with none running it says so and exits 0', async () => {
    const relay = await startRelay(env);
    const stopped = await lumenJson(['relay', 'stop']);
    expect(stopped).toEqual({ running: false, stopped: true, pid: relay.pid, url: relay.url });
    // It was a graceful stop: SIGTERM, the relay's own stopping and stopped events, exit 0, its state file gone
    expect(await relay.exited).toEqual({ exitCode: 0, signal: undefined });
    expect(relay.events.find((e) => e.event === 'stopping')).toEqual({ event: 'stopping', signal: 'SIGTERM' });
    expect(relay.events.at(-1)).toEqual({ event: 'stopped' });
    expect(existsSync(home.path('relay.json'))).toBe(false);

    expect(await lumenJson(['relay', 'stop'])).toEqual({ running: false, stopped: false, home: home.dir });
    const human = await lumen(['relay', 'stop'], { env });
    expect(human.exitCode).toBe(0);
    expect(human.stdout).toContain(`No relay is running for this LUMEN_HOME (${home.dir})`);
    expect((await lumen(['relay', 'stop', '--timeout', 'soon'], { env })).exitCode).toBe(2);
  });

  it('leaves alone a process a stale relay.json names that is not a relay answering there', async () => {
    // The test process itself is alive; nothing of it answers on that port
    writeFileSync(home.path('relay.json'), JSON.stringify({ pid: process.pid, url: 'http://127.0.0.1:9', publicUrl: null, startedAt: 'x' }));
    const result = await lumen(['relay', 'stop'], { env });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(`pid ${process.pid} in relay.json does not answer`);
  });

  it('leaves alone a process a relay.json names when another relay (pid and port reused) answers at its address', async () => {
    // Given a running relay, and a relay.json that names its address with another process's pid (and instance)
    const relay = await startRelay(env);
    const running = JSON.parse(readFileSync(home.path('relay.json'), 'utf8'));
    expect(running.instance).toMatch(/^[0-9a-f]{16}$/);
    const other = makeHome();
    try {
      writeFileSync(join(other.dir, 'relay.json'), JSON.stringify({ ...running, pid: process.pid, instance: '0123456789abcdef' }));
      // When `relay stop` runs for that other home
      const result = await lumen(['relay', 'stop'], { env: { ...env, LUMEN_HOME: other.dir } });
      // Then nothing is signalled: the test process lives, and so does the relay
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toContain(`pid ${process.pid} in relay.json does not answer`);
      expect((await request(`${relay.url}/healthz`)).json).toEqual({ status: 'ok', instance: running.instance });
    } finally {
      other.cleanup();
      await relay.stop();
    }
  });
});

describe('lumen relay start --log-file', () => {
  it('writes what the relay says to the file, with times and without its secrets, and stdout stays empty', async () => {
    const forward = await target();
    const logFile = home.path('logs', 'relay.log');
    const child = execa('node', [BIN, 'relay', 'start', '--port', '0', '--forward-to', forward.url, '--log-file', logFile], {
      env,
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
    });
    const relayUrl = await eventually(() => {
      const match = /Relay listening on (http:\/\/\S+)/.exec(readFileSync(logFile, 'utf8'));
      if (!match) throw new Error('not listening yet');
      return match[1]!;
    });
    expect((await post(relayUrl)).status).toBe(200);
    await eventually(() => expect(readFileSync(logFile, 'utf8')).toMatch(/→ in_\d+ \(event \d+\) forwarded 200/));
    expect((await lumen(['relay', 'stop'], { env })).exitCode).toBe(0);
    const result = await child;

    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('');
    const text = readFileSync(logFile, 'utf8');
    for (const line of text.trim().split('\n')) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /);
    expect(text).toMatch(/Relay stopped\.\n$/);
    const secret = await readSigningSecret(home.dir);
    expect(secret).toMatch(/^whsec_/);
    expect(text).not.toContain(secret!);
    expect(text).toContain('whsec_… (not written to the log file');
    expect(text).not.toMatch(/lk_[A-Za-z0-9_-]{8,}/);
  });
});

/** Prometheus text exposition, checked line by line; the samples by `name{labels}`. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
      expect(meta, line).not.toBeNull();
      if (meta![1] === 'TYPE') {
        expect(['counter', 'gauge', 'histogram', 'summary', 'untyped']).toContain(meta![3]);
        types.set(meta![2]!, meta![3]!);
      }
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? (\S+)(?: -?\d+)?$/.exec(line);
    expect(sample, line).not.toBeNull();
    const value = Number(sample![3]!.replace('+Inf', 'Infinity').replace('-Inf', '-Infinity'));
    expect(Number.isNaN(value) && sample![3] !== 'NaN', line).toBe(false);
    const family = sample![1]!.replace(/_(bucket|sum|count|total)$/, '');
    expect(types.has(sample![1]!) || types.has(family) || types.has(`${family}_total`) || types.has(sample![1]!.replace(/_(bucket|sum|count)$/, '')), line).toBe(true);
    samples.set(`${sample![1]}${sample![2] ? `{${sample![2]}}` : ''}`, value);
  }
  return samples;
}

describe('lumen relay start: /readyz and /metrics', () => {
  it('serves Prometheus text on loopback that counts deliveries, hand-offs and the queue; /readyz says why it is not ready', async () => {
    const forward = await target();
    const relay = await startRelay(env, ['--forward-to', forward.url]);
    expect((await post(relay.url)).status).toBe(200);
    expect((await post(relay.url)).status).toBe(200);
    const unsigned = await request(webhookUrl(relay.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(unsigned.status).toBe(401);
    await eventually(() => expect(relay.events.filter((e) => e.event === 'dispatch' && e.ok)).toHaveLength(2));

    const ready = await request(`${relay.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ status: 'ready' });
    expect((await request(`${relay.url}/healthz`)).json).toEqual({ status: 'ok', instance: expect.stringMatching(/^[0-9a-f]{16}$/) });

    const answer = await request(`${relay.url}/metrics`);
    expect(answer.status).toBe(200);
    expect(answer.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const metrics = parsePrometheus(answer.text);
    expect(metrics.get('lumen_webhook_deliveries_total{result="received",status="200"}')).toBe(2);
    expect(metrics.get('lumen_webhook_deliveries_total{result="signature_missing",status="401"}')).toBe(1);
    expect(metrics.get('lumen_webhook_duration_seconds_count{result="received"}')).toBe(2);
    expect(metrics.get('lumen_webhook_duration_seconds_bucket{le="+Inf",result="received"}')).toBe(2);
    expect(metrics.get('lumen_messages_stored_total')).toBe(2);
    expect(metrics.get('lumen_dispatch_attempts_total{result="delivered"}')).toBe(2);
    expect(metrics.get('lumen_dispatch_duration_seconds_count{result="delivered"}')).toBe(2);
    expect(metrics.get('lumen_dispatch_queue_depth')).toBe(0);
    expect(metrics.get('lumen_dispatch_oldest_age_seconds')).toBe(0);
    expect(metrics.get('process_resident_memory_bytes')).toBeGreaterThan(0);

    // Not through a tunnel or proxy (forwarding headers), unless --metrics-host says so
    const forwarded = await request(`${relay.url}/metrics`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    expect(forwarded.status).toBe(403);
    expect(forwarded.json.error.code).toBe('local_only');
    // Nor to a web page whose name was rebound to 127.0.0.1 (its Host is its own name)
    const rebound = await request(`${relay.url}/metrics`, { headers: { host: 'evil.example' } });
    expect([rebound.status, rebound.json.error.code]).toEqual([403, 'local_only']);
    expect((await request(`${relay.url}/metrics`, { headers: { host: 'localhost' } })).status).toBe(200);

    // The secrets become unreadable: not ready, with the reason (the webhook keeps what it had loaded)
    writeFileSync(home.path('secrets.enc.json'), 'not the secrets file');
    const notReady = await request(`${relay.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(notReady.json.status).toBe('unavailable');
    expect(notReady.json.reasons).toEqual([expect.stringMatching(new RegExp(`^secrets of ${connection.id} not readable: `))]);
  });

  it('is not ready while the database cannot be written, and ready again once it can', async () => {
    const relay = await startRelay(env);
    // Another process holds the write lock past the relay's busy timeout
    const holder = new Database(home.path('lumen.db'));
    holder.exec('BEGIN IMMEDIATE');
    try {
      const locked = await request(`${relay.url}/readyz`);
      expect(locked.status).toBe(503);
      expect(locked.json).toEqual({ status: 'unavailable', reasons: ['database not writable: The database in LUMEN_HOME stayed locked by another lumen process.'] });
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    expect((await request(`${relay.url}/readyz`)).status).toBe(200);
  });

  it('answers /metrics to the clients --metrics-host names, and refuses a --metrics-host that is not an address', async () => {
    const relay = await startRelay(env, ['--metrics-host', 'any']);
    const forwarded = await request(`${relay.url}/metrics`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    expect(forwarded.status).toBe(200);
    await relay.stop();
    const bad = await lumen(['relay', 'start', '--port', '0', '--metrics-host', 'prometheus.example'], { env });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('--metrics-host takes client IP addresses');
    for (const proxy of ['notanip', 'localhost', '10.0.0.0/33']) {
      const refused = await lumen(['relay', 'start', '--port', '0', '--trust-proxy', proxy], { env });
      expect(refused.exitCode, proxy).toBe(2);
      expect(refused.stderr).toContain("--trust-proxy takes a proxy's IP address or a subnet");
      expect(refused.stderr).not.toContain('bug in lumen');
    }
  });
});

describe('lumen events drop', () => {
  it('gives up a delivery that keeps failing; events list shows it dropped and when the others are tried next', async () => {
    const failing = await target(() => 500);
    const relay = await startRelay(env, ['--forward-to', failing.url]);
    expect((await post(relay.url)).status).toBe(200);
    const failed = await relay.waitForEvent((e) => e.event === 'dispatch' && !e.ok);
    const id = String(failed.eventId);

    const listed = await lumenJson(['events', 'list']);
    // (It may have failed again since: then its next attempt is a later one.)
    expect(listed).toEqual([expect.objectContaining({ id: failed.eventId, state: 'retrying', nextAttemptAt: expect.any(String) })]);
    expect(listed[0].nextAttemptAt >= failed.nextAttemptAt!).toBe(true);
    const human = await lumen(['events', 'list'], { env });
    expect(human.stdout).toContain('NEXT ATTEMPT');

    // The queue shows it waiting, with its age
    const waiting = parsePrometheus((await request(`${relay.url}/metrics`)).text);
    expect(waiting.get('lumen_dispatch_queue_depth')).toBe(1);
    expect(waiting.get('lumen_dispatch_oldest_age_seconds')).toBeGreaterThan(0);
    expect(waiting.get('lumen_dispatch_attempts_total{result="failed"}')).toBeGreaterThanOrEqual(1);

    expect(await lumenJson(['events', 'drop', id])).toEqual({ id: failed.eventId, state: 'dropped', interactionId: failed.interactionId, attempts: expect.any(Number) });
    expect(await lumenJson(['events', 'list'])).toEqual([expect.objectContaining({ id: failed.eventId, state: 'dropped' })]);
    expect((await lumenJson(['events', 'list', '--failed']))).toEqual([]);
    expect(parsePrometheus((await request(`${relay.url}/metrics`)).text).get('lumen_dispatch_queue_depth')).toBe(0);

    const again = await lumenJson(['events', 'drop', id], 1);
    expect(again.error.code).toBe('event_not_pending');
    expect((await lumenJson(['events', 'drop', '999999'], 1)).error.code).toBe('event_not_found');
    const bad = await lumen(['events', 'drop', 'abc'], { env });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr.trim().split('\n')[0]).toMatch(/^Error: Event id must be a number/);
  });
});

describe('lumen backup', () => {
  it('takes a copy under ingest load that opens and passes integrity_check', async () => {
    const relay = await startRelay(env);
    const file = home.path('backup.db');
    let acked = 0;
    let ackedWhenBackupStarted = -1;
    let ackedWhenBackupEnded = -1;
    let backup: ReturnType<typeof lumen> | undefined;
    // Eight senders keep delivering until the backup has finished; the backup starts once 50 are stored
    await inPool(Array.from({ length: 8 }), 8, async () => {
      while (ackedWhenBackupEnded < 0) {
        const answer = await post(relay.url, '15557000002');
        expect(answer.status).toBe(200);
        acked += 1;
        if (acked >= 50 && !backup) {
          ackedWhenBackupStarted = acked;
          backup = lumen(['backup', file, '--json'], { env });
          void backup.finally(() => {
            ackedWhenBackupEnded = acked;
          });
        }
      }
    });
    const result = await backup!;
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ path: file, bytes: expect.any(Number), pages: expect.any(Number) });
    // Deliveries were stored while the backup ran
    expect(ackedWhenBackupEnded).toBeGreaterThan(ackedWhenBackupStarted);

    const copy = new Database(file, { readonly: true, fileMustExist: true });
    try {
      expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
      const stored = copy.prepare('SELECT COUNT(*) FROM interactions').pluck().get() as number;
      // Everything acknowledged before it started is in it; at most what was stored by the end
      expect(stored).toBeGreaterThanOrEqual(ackedWhenBackupStarted);
      expect(stored).toBeLessThanOrEqual(acked);
      expect(copy.prepare('SELECT COUNT(*) FROM integrations').pluck().get()).toBe(1);
    } finally {
      copy.close();
    }
    expect(readFileSync(file).subarray(0, 15).toString()).toBe('SQLite format 3');

    const twice = await lumen(['backup', file], { env });
    expect(twice.exitCode).toBe(2);
    expect(twice.stderr).toContain('exists already');
  });
});

describe('retention', () => {
  it('messages purge counts with --dry-run, and the relay applies the retention setting at start', async () => {
    const workspaceId = withDb(home.dir, (db) => db.prepare('SELECT workspace_id FROM integrations').pluck().get() as string);
    withDb(
      home.dir,
      (db) =>
        db
          .prepare(
            `INSERT INTO interactions (workspace_id, integration_id, wamid, phone_number_id, from_id, from_kind, type, text, sent_at, received_at, raw)
             VALUES (?, ?, 'wamid.ancient', ?, '15550000', 'phone', 'text', 'old', '2020-01-01T00:00:00.000Z', '2020-01-01T00:00:00.000Z', '{}')`,
          )
          .run(workspaceId, connection.id, sandbox.phoneNumberId),
      { readonly: false },
    );
    const plan = await lumenJson(['messages', 'purge', '--older-than', '90d', '--dry-run']);
    expect(plan).toMatchObject({ workspace: 'default', dryRun: true, inbound: 1, keptUndelivered: 0 });
    expect((await lumen(['messages', 'purge'], { env })).exitCode).toBe(2);
    expect((await lumen(['messages', 'purge', '--older-than', '3 months'], { env })).exitCode).toBe(2);

    writeFileSync(home.path('config.json'), JSON.stringify({ retention: '90d' }));
    const relay = await startRelay(env);
    expect((await post(relay.url)).status).toBe(200);
    const purged = await relay.waitForEvent((e) => e.event === 'retention');
    expect(purged).toMatchObject({ event: 'retention', inbound: 1, keptUndelivered: 0 });
    const left = withDb(home.dir, (db) => db.prepare('SELECT wamid FROM interactions').pluck().all() as string[]);
    expect(left).toHaveLength(1);
    expect(left[0]).not.toBe('wamid.ancient');

    writeFileSync(home.path('config.json'), JSON.stringify({ retention: 'forever' }));
    await relay.stop();
    const refused = await lumen(['relay', 'start', '--port', '0'], { env });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('"retention" setting');
  });
});

describe('lumen messages export', () => {
  it('writes CSV to a file and NDJSON to stdout, refuses another format, and keeps an existing file unless --force', async () => {
    const relay = await startRelay(env);
    expect((await post(relay.url, '15557000003')).status).toBe(200);
    expect((await post(relay.url, '15557000004')).status).toBe(200);
    const file = home.path('out.csv');
    expect(await lumenJson(['messages', 'export', '--format', 'csv', '--output', file])).toEqual({ format: 'csv', count: 2, output: file });
    const csv = readFileSync(file, 'utf8').trim().split('\r\n');
    expect(csv[0]).toBe('id,received_at,timestamp,integration_id,wamid,from,from_kind,contact_name,user_id,type,text,media_id,reply_to');
    expect(csv).toHaveLength(3);
    const nd = await lumen(['messages', 'export', '--from', '+1 555 700 0004'], { env });
    expect(nd.exitCode).toBe(0);
    expect(nd.stdout.trim().split('\n').map((l) => JSON.parse(l).from)).toEqual(['15557000004']);
    expect((await lumen(['messages', 'export', '--format', 'xml'], { env })).exitCode).toBe(2);

    // An existing file is kept (as `backup` keeps one) unless --force replaces it
    writeFileSync(file, 'my notes\n');
    const kept = await lumen(['messages', 'export', '--output', file], { env });
    expect(kept.exitCode).toBe(2);
    expect(kept.stderr).toMatch(/^Error: .*out\.csv exists already; nothing was written\.\n.*--force/);
    expect(readFileSync(file, 'utf8')).toBe('my notes\n');
    expect(await lumenJson(['messages', 'export', '--output', file, '--force'])).toMatchObject({ format: 'ndjson', count: 2 });
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(2);
    // A device is no file to keep; a link to nothing is not written through
    expect((await lumen(['messages', 'export', '--output', '/dev/null'], { env })).exitCode).toBe(0);
    const link = home.path('link.csv');
    symlinkSync(home.path('elsewhere.csv'), link);
    expect((await lumen(['messages', 'export', '--output', link], { env })).exitCode).toBe(2);
    expect(existsSync(home.path('elsewhere.csv'))).toBe(false);
  });

  const script = spawnSync('script', ['--version']).status === 0;
  it.skipIf(!script)('on a terminal shows a stranger\'s control and bidi characters as escapes; to a pipe, the data as stored (skipped without util-linux script)', async () => {
    const relay = await startRelay(env);
    const hostile = 'x\u202egnp.exe\u009b31mRED';
    const answer = await postSigned(webhookUrl(relay.url), textDelivery(sandbox.phoneNumberId, { wamid: newWamid(), from: '15557000005', body: hostile }), sandbox.appSecret);
    expect(answer.status).toBe(200);
    const piped = await lumen(['messages', 'export', '--format', 'csv'], { env });
    expect(piped.stdout).toContain(hostile);
    // `script` gives the command a pseudo-terminal as its stdout
    const tty = await execa('script', ['-qec', `${process.execPath} ${BIN} messages export --format csv`, '/dev/null'], { env, extendEnv: false, reject: false, encoding: 'utf8' });
    expect(tty.exitCode, tty.stderr).toBe(0);
    expect(tty.stdout).toContain('x\\u202egnp.exe\\u009b31mRED');
    expect(tty.stdout).not.toMatch(/[\u009b\u202e]/);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('lumen relay install-service', () => {
  const secrets = { WHATSAPP_ACCESS_TOKEN: 'EAAsecretTokenValue123', WHATSAPP_APP_SECRET: 'appsecretvalue456', LUMEN_MASTER_KEY: 'master passphrase 789' };

  it('writes a systemd user unit with the relay flags and no secret, checked by systemd-analyze; uninstall removes it', async () => {
    const serviceEnv = { ...env, ...secrets };
    const run = (args: string[]) => lumen(args, { env: serviceEnv });
    const installed = await run(['relay', 'install-service', '--platform', 'systemd', '--port', '9999', '--forward-to', 'http://localhost:3000/hook', '--mark-read', '--json']);
    expect(installed.exitCode, installed.stderr).toBe(0);
    const data = JSON.parse(installed.stdout);
    const unitPath = join(env.XDG_CONFIG_HOME!, 'systemd', 'user', 'lumen-relay.service');
    expect(data).toMatchObject({ platform: 'systemd', path: unitPath, logs: 'journalctl --user -u lumen-relay -f' });
    expect(data.start).toEqual(['systemctl --user daemon-reload', 'systemctl --user enable --now lumen-relay']);
    const unit = readFileSync(unitPath, 'utf8');
    expect(unit).toContain(`ExecStart=${process.execPath} ${BIN} relay start --port 9999 --forward-to http://localhost:3000/hook --mark-read\n`);
    expect(unit).toContain(`Environment=LUMEN_HOME=${home.dir}\n`);
    expect(unit).toContain('KillSignal=SIGTERM');
    for (const value of Object.values(secrets)) expect(unit).not.toContain(value);
    for (const name of Object.keys(secrets)) expect(unit).not.toContain(`${name}=`);

    const analyze = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' });
    if (analyze.status !== 0) {
      console.warn('skipped: systemd-analyze is not installed here, so the unit file was not verified');
    } else {
      const verify = spawnSync('systemd-analyze', ['verify', unitPath], { encoding: 'utf8' });
      if (verify.status !== 0 && /Failed to initialize manager|No such device or address/.test(verify.stderr)) {
        console.warn(`skipped: systemd-analyze cannot run here (${verify.stderr.trim().split('\n')[0]})`);
      } else {
        expect(verify.status, verify.stderr).toBe(0);
        expect(verify.stderr).not.toMatch(/lumen-relay\.service:\d+:/);
      }
    }

    const twice = await run(['relay', 'install-service', '--platform', 'systemd']);
    expect(twice.exitCode).toBe(1);
    expect(twice.stderr).toContain('exists already');
    expect((await run(['relay', 'install-service', '--platform', 'systemd', '--force', '--exec', 'node bot.js "a b"'])).exitCode).toBe(0);
    expect(readFileSync(unitPath, 'utf8')).toContain(' relay start --exec "node bot.js \\"a b\\""\n');

    const removed = await run(['relay', 'uninstall-service', '--platform', 'systemd', '--json']);
    expect(removed.exitCode).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ removed: true, path: unitPath });
    expect(existsSync(unitPath)).toBe(false);
    expect(JSON.parse((await run(['relay', 'uninstall-service', '--platform', 'systemd', '--json'])).stdout)).toEqual({ removed: false, path: unitPath });
  });

  it('writes a unit systemd takes when run from a folder with a space and a % in its name, and a $ in PATH', async () => {
    const folder = home.path('my bots 100%');
    mkdirSync(folder);
    const config = home.path('config dir');
    const installed = await execa('node', [BIN, 'relay', 'install-service', '--platform', 'systemd', '--exec', 'cat'], {
      cwd: folder,
      env: { ...env, XDG_CONFIG_HOME: config, PATH: `${process.env.PATH}:/opt/$tools` },
      extendEnv: false,
      reject: false,
    });
    expect(installed.exitCode, installed.stderr).toBe(0);
    const unitPath = join(config, 'systemd', 'user', 'lumen-relay.service');
    const unit = readFileSync(unitPath, 'utf8');
    expect(unit).toContain(`WorkingDirectory=${folder.replace('%', '%%')}\n`);
    expect(unit).toContain(`EnvironmentFile=-${join(config, 'lumen', 'relay.env')}\n`);
    // systemd expands no $ in Environment=: it is written once, as it is
    expect(unit).toMatch(/^Environment="?PATH=.*:\/opt\/\$tools"?$/m);
    const verify = spawnSync('systemd-analyze', ['verify', unitPath], { encoding: 'utf8' });
    if (verify.error || (verify.status !== 0 && /Failed to initialize manager|No such device or address/.test(verify.stderr))) {
      console.warn(`skipped: systemd-analyze cannot run here (${verify.error?.message ?? verify.stderr.trim().split('\n')[0]}), so the unit file was not verified`);
    } else {
      expect(verify.stderr).not.toMatch(/lumen-relay\.service:\d+:/);
    }
  });

  it('writes a launchd agent (plist) into ~/Library/LaunchAgents, and says how to start it and read its log', async () => {
    const run = (args: string[]) => lumen(args, { env: { ...env, ...secrets } });
    const installed = await run(['relay', 'install-service', '--platform', 'launchd', '--tunnel', 'cloudflared', '--exec', 'cat']);
    expect(installed.exitCode, installed.stderr).toBe(0);
    const plist = join(home.dir, 'Library', 'LaunchAgents', 'lumen.relay.plist');
    expect(installed.stdout).toContain(`Wrote ${plist}`);
    expect(installed.stdout).toContain(`launchctl bootstrap gui/$(id -u) ${plist}`);
    expect(installed.stdout).toContain(`tail -f ${join(home.dir, 'Library', 'Logs', 'lumen-relay.log')}`);
    const text = readFileSync(plist, 'utf8');
    expect(text).toContain('<string>relay</string>\n    <string>start</string>\n    <string>--tunnel</string>\n    <string>cloudflared</string>\n    <string>--exec</string>\n    <string>cat</string>');
    expect(text).toContain(`<key>LUMEN_HOME</key>\n    <string>${home.dir}</string>`);
    for (const value of Object.values(secrets)) expect(text).not.toContain(value);
    // Well-formed: every tag closed in order
    const stack: string[] = [];
    for (const [, closing, name, selfClosing] of text.matchAll(/<(\/?)([a-z]+)[^>]*?(\/?)>/g)) {
      if (selfClosing) continue;
      if (closing) expect(stack.pop()).toBe(name);
      else stack.push(name!);
    }
    expect(stack).toEqual([]);
    expect((await run(['relay', 'uninstall-service', '--platform', 'launchd'])).exitCode).toBe(0);
    expect(existsSync(plist)).toBe(false);
    expect((await run(['relay', 'install-service', '--platform', 'upstart'])).exitCode).toBe(2);
  });
});

describe('lumen completion', () => {
  it('prints a bash script that bash accepts, that lists every top-level command and completes verbs and flags', async () => {
    const result = await lumen(['completion', 'bash'], { env });
    expect(result.exitCode).toBe(0);
    const script = home.path('lumen.bash');
    writeFileSync(script, result.stdout);
    execFileSync('bash', ['-n', script]);
    const complete = (...words: string[]) =>
      execFileSync('bash', ['-c', `source "$1"; COMP_WORDS=(lumen ${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length}; _lumen; printf '%s\\n' "\${COMPREPLY[@]}"`, 'x', script], { encoding: 'utf8' })
        .trim()
        .split('\n');
    const top = complete('');
    for (const entry of commands) expect(top).toContain(entry.name);
    expect(top).toEqual(expect.arrayContaining(['relay', 'backup', 'completion', '--json', '--workspace']));
    expect(complete('relay', 'st')).toEqual(['start', 'status', 'stop']);
    expect(complete('-w', 'acme', 'relay', 'start', '--log')).toEqual(['--log-file', '--log-max-bytes']);
    expect(complete('messages', 'purge', '--')).toEqual(expect.arrayContaining(['--older-than', '--dry-run', '--json']));
    expect(complete('send', '--ima')).toEqual(['--image']);

    for (const shell of ['zsh', 'fish']) {
      const other = await lumen(['completion', shell], { env });
      expect(other.exitCode).toBe(0);
      expect(other.stdout).toContain('install-service');
    }
    const bad = await lumen(['completion', 'tcsh'], { env });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('bash, zsh or fish');
  });
});
