/**
 * What only a process shows about the console: `lumen relay start` prints its URL, `lumen console` prints it (off a
 * terminal it opens no browser) with the same token across runs, and `lumen trigger --file` posts a delivery the
 * console saved, signed, with clear usage errors for a bad file.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { eventually } from '../helpers/async.js';
import { runInPty } from '../helpers/pty.js';
import { killAllRelays, startRelay } from '../helpers/relay.js';
import { connectedHome, type ConnectedHome } from '../helpers/send.js';

let sandbox: SandboxHandle;
let home: ConnectedHome | undefined;
beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(() => sandbox.close());
afterEach(async () => {
  await killAllRelays();
  home?.cleanup();
  home = undefined;
});

// Never a real browser: off a terminal `lumen console` must not start one, and if it did, this would fail loudly.
const NO_BROWSER = { BROWSER: '/bin/false' };

describe('lumen console', () => {
  it('prints the URL relay start printed, opens no browser off a terminal, and gives {url, running, opened} with --json', async () => {
    home = await connectedHome(sandbox);
    const relay = await startRelay(home.env, [], { json: false });
    const line = await relay.waitForLine(/^Console: /);
    const url = line.slice('Console: '.length).trim();
    expect(url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${new URL(relay.url).port}/console\\?token=ct_[\\w-]+$`));

    const printed = await home.run(['console'], { env: NO_BROWSER });
    expect(printed.exitCode).toBe(0);
    expect(printed.stdout.trim()).toBe(url);
    const { result, json } = await home.runJson(['console'], { env: NO_BROWSER });
    expect(result.exitCode).toBe(0);
    expect(json).toEqual({ url, running: true, opened: false });
    expect((await fetch(url, { redirect: 'manual' })).status).toBe(303);
  });

  it('on a terminal starts $BROWSER with the URL (here a script that writes down what it was given)', async () => {
    home = await connectedHome(sandbox);
    const relay = await startRelay(home.env, [], { json: false });
    const url = (await relay.waitForLine(/^Console: /)).slice('Console: '.length).trim();
    const opener = home.path('opener.sh');
    writeFileSync(opener, `#!/bin/sh\nprintf '%s' "$1" > '${home.path('opened.txt')}'\n`);
    chmodSync(opener, 0o755);
    const result = await runInPty(['console'], { ...home.env, BROWSER: opener }, []);
    expect(result.exitCode).toBe(0);
    const page = url.split('?')[0]!;
    expect(result.output).toContain(`Opened ${page} (signed in with a one-time code).`);
    // The browser is given a one-time code, not the token: its command line is readable by every user (ps)
    const opened = await eventually(() => {
      const text = readFileSync(home!.path('opened.txt'), 'utf8');
      expect(text).toMatch(new RegExp(`^${page.replace(/[.?]/g, '\\$&')}\\?code=[\\w.-]+$`));
      return text;
    });
    const token = new URL(url).searchParams.get('token')!;
    expect(opened).not.toContain(token);
    const signIn = await fetch(opened, { redirect: 'manual' });
    // A session of a day on this port's cookie, never the token itself
    expect([signIn.status, signIn.headers.get('set-cookie')]).toEqual([303, expect.stringMatching(new RegExp(`^lumen_console_${new URL(page).port}=\\d+\\.[\\w-]{43}; Path=/console; Max-Age=86400; HttpOnly; SameSite=Strict$`))]);
    expect(signIn.headers.get('set-cookie')).not.toContain(token);
    // Once: the same code again (from the command line, later) signs nobody in
    const again = await fetch(opened, { redirect: 'manual' });
    expect([again.status, await again.text()]).toEqual([401, expect.stringContaining('used already or has expired')]);
  });

  it('without a relay prints where the console will be and says on stderr that none runs', async () => {
    home = await connectedHome(sandbox);
    const result = await home.run(['console', '--no-open'], { env: NO_BROWSER });
    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim()).toMatch(/^http:\/\/127\.0\.0\.1:8787\/console\?token=ct_/);
    expect(result.stderr).toMatch(/No relay is running/);
    // Created once: the relay started later uses the same token.
    const relay = await startRelay(home.env, [], { json: false });
    const line = await relay.waitForLine(/^Console: /);
    expect(new URL(line.slice('Console: '.length).trim()).searchParams.get('token')).toBe(new URL(result.stdout.trim()).searchParams.get('token'));
  });
});

describe('lumen trigger --file', () => {
  it('posts a delivery saved from the console again, signed with the number\'s app secret', async () => {
    home = await connectedHome(sandbox);
    const relay = await startRelay(home.env, [], { json: false });
    const url = (await relay.waitForLine(/^Console: /)).slice('Console: '.length).trim();
    const token = new URL(url).searchParams.get('token')!;
    expect((await home.run(['trigger', 'message', '--text', 'save me'])).exitCode).toBe(0);

    const saved = await eventually(async () => {
      const response = await fetch(`${relay.url}/console/deliveries/1/file`, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(200);
      return response.text();
    });
    writeFileSync(home.path('delivery-1.json'), saved);
    const again = await home.runJson(['trigger', '--file', home.path('delivery-1.json')]);
    expect(again.result.exitCode).toBe(0);
    expect(again.json).toMatchObject({ status: 200, response: { status: 'received', messages: 1 } });
    const feed = await fetch(`${relay.url}/console?kind=message`, { headers: { authorization: `Bearer ${token}` } });
    expect([...(await feed.text()).matchAll(/<td>valid<\/td>/g)]).toHaveLength(2);
  });

  it('refuses a missing file, a file that is not a delivery, and a kind given with --file: one line, exit 2', async () => {
    home = await connectedHome(sandbox);
    writeFileSync(home.path('not-json.json'), 'hello');
    writeFileSync(home.path('not-delivery.json'), '{"hello": 1}');
    for (const [args, message] of [
      [['trigger', '--file', home.path('nope.json'), '--url', 'http://127.0.0.1:9/x'], /Cannot read --file .*: no such file\.$/],
      [['trigger', '--file', home.path('not-json.json'), '--url', 'http://127.0.0.1:9/x'], /is not JSON/],
      [['trigger', '--file', home.path('not-delivery.json'), '--url', 'http://127.0.0.1:9/x'], /not a webhook delivery/],
      [['trigger', 'message', '--file', home.path('not-delivery.json')], /--file posts the file as it is/],
    ] as const) {
      const result = await home.run([...args]);
      expect(result.exitCode, args.join(' ')).toBe(2);
      expect(result.stderr.trim().split('\n')[0]).toMatch(message);
      expect(result.stderr).not.toMatch(/at .*\.js:\d+/);
    }
  });
});
