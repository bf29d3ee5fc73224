/**
 * A follower of the relay's events (`GET /v1/events`, the console's live feed) that stops reading is not held every
 * event: past the limit the relay skips, and tells the follower how many once it reads again. A real loopback socket.
 */
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { followerWriter } from '../../src/relay/follower.js';

const sockets: Socket[] = [];
const servers: ReturnType<typeof createServer>[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A connected pair on loopback: the relay's end, and a follower's end that reads nothing until resumed. */
async function pair(): Promise<{ relay: Socket; follower: Socket }> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const follower = connect((server.address() as AddressInfo).port, '127.0.0.1');
  follower.pause();
  const relay = await accepted;
  sockets.push(relay, follower);
  return { relay, follower };
}

describe('a follower that stops reading', () => {
  it('is held at most the limit (plus one event); what was skipped is said before the next event once it reads', async () => {
    const { relay, follower } = await pair();
    const limit = 64 * 1024;
    const write = followerWriter(relay, (count) => `${JSON.stringify({ event: 'skipped', count })}\n`, limit);
    const line = `${JSON.stringify({ event: 'message', text: 'x'.repeat(4000) })}\n`;

    // When the relay goes on writing events to a follower that reads nothing (the kernel's buffers fill first)
    let written = 0;
    let peak = 0;
    while (relay.writableLength <= limit && written < 100_000) {
      write(line);
      written += 1;
      if (written % 50 === 0) await nextTurn(); // the socket hands what it can to the kernel
    }
    const skippedBefore = 100;
    for (let i = 0; i < skippedBefore; i += 1) {
      write(line);
      peak = Math.max(peak, relay.writableLength);
    }
    // Then it never holds more than the limit and one event
    expect(peak).toBeLessThanOrEqual(limit + line.length);

    // And once the follower reads again, the next event comes after a line that says how many were skipped
    let received = '';
    follower.setEncoding('utf8');
    follower.on('data', (chunk: string) => (received += chunk));
    follower.resume();
    await new Promise<void>((resolve) => relay.once('drain', resolve));
    write(`${JSON.stringify({ event: 'message', text: 'after' })}\n`);
    relay.end();
    await new Promise<void>((resolve) => follower.once('end', resolve));
    const lines = received.trim().split('\n').map((l) => JSON.parse(l) as { event: string; count?: number; text?: string });
    expect(lines.slice(-2)).toEqual([{ event: 'skipped', count: skippedBefore }, { event: 'message', text: 'after' }]);
    expect(lines.filter((l) => l.event === 'message')).toHaveLength(written + 1);
  });
});
