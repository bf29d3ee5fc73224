/**
 * What a new user trips over, through the built CLI where only a process shows it (exit codes, signals, pipes, TZ).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { connectedHome, type ConnectedHome } from '../helpers/send.js';

let sandbox: SandboxHandle;
let home: ConnectedHome;
beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(() => sandbox.close());
beforeEach(async () => {
  home = await connectedHome(sandbox);
});
afterEach(() => home.cleanup());

describe('times in human output', () => {
  it('are local, with the zone TZ names, and relative where it helps; --json keeps ISO UTC', async () => {
    // Given a contact who wrote an hour ago
    const wrote = new Date(Date.now() - 3_600_000);
    home.contactWrote('+15551234567', wrote);

    // When contacts are listed in New York and in Kolkata
    const newYork = await home.run(['contacts', 'list'], { env: { TZ: 'America/New_York' } });
    const kolkata = await home.run(['contacts', 'list'], { env: { TZ: 'Asia/Kolkata' } });

    // Then each shows its own zone, and the window's end relative to now
    expect(newYork.exitCode).toBe(0);
    expect(newYork.stdout).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d E[SD]T \(1 h ago\)/);
    expect(newYork.stdout).toMatch(/open until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d E[SD]T \(in 23 h\)/);
    expect(kolkata.stdout).toMatch(/GMT\+5:30 \(1 h ago\)/);
    const { json } = await home.runJson(['contacts', 'list'], { env: { TZ: 'Asia/Kolkata' } });
    expect(json[0].lastInboundAt).toBe(wrote.toISOString());
  });
});
