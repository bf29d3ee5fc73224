import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGraphClient } from '../../src/graph/client.js';
import { GraphError, GraphNetworkError } from '../../src/graph/errors.js';
import { listAllTemplates } from '../../src/graph/templates.js';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';

let sandbox: SandboxHandle;
beforeAll(async () => {
  sandbox = await startSandbox({ maxPageSize: 2 });
});
afterAll(() => sandbox.close());

const noSleep = async () => {};

/** A one-route HTTP server answering from a script of responses, to see what the client does with each. */
async function scriptedServer(responses: Array<{ status: number; body: unknown }>) {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
    const next = responses.shift() ?? { status: 500, body: {} };
    res.writeHead(next.status, { 'content-type': 'application/json' }).end(JSON.stringify(next.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('graph client', () => {
  it('puts the version in every path and follows paging.next to the end', async () => {
    const graph = createGraphClient({ baseUrl: sandbox.url, version: 'v23.0', accessToken: sandbox.accessToken });
    const templates = await listAllTemplates(graph, sandbox.wabaId);
    expect(templates).toHaveLength(sandbox.status().templates);
    expect(new Set(templates.map((t) => `${t.name}/${t.language}`)).size).toBe(templates.length);
    await graph.close();
  });

  it('turns a Meta error into a GraphError with code, trace id and the token redacted', async () => {
    const token = 'EAAthisTokenIsWrongAndMustNotLeak12345';
    const graph = createGraphClient({ baseUrl: sandbox.url, version: 'v23.0', accessToken: token });
    const error = await graph.get('106540352242922').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphError);
    const graphError = error as GraphError;
    expect(graphError).toMatchObject({ status: 401, code: 190, isAuthError: true });
    expect(graphError.fbtraceId).toBeTruthy();
    expect(JSON.stringify(graphError.toJSON()) + graphError.message + graphError.request).not.toContain(token);
    await graph.close();
  });

  it('retries a GET on 5xx and transient codes, then succeeds', async () => {
    const server = await scriptedServer([
      { status: 503, body: { error: { message: 'Service unavailable', code: 2, fbtrace_id: 'A' } } },
      { status: 400, body: { error: { message: 'Rate limit', code: 4, fbtrace_id: 'B' } } },
      { status: 200, body: { id: '1' } },
    ]);
    const retries: string[] = [];
    const graph = createGraphClient({
      baseUrl: server.url,
      version: 'v23.0',
      accessToken: 'EAAtoken-for-the-scripted-server',
      sleep: noSleep,
      onRetry: (r) => retries.push(r.reason),
    });
    await expect(graph.get('1')).resolves.toEqual({ id: '1' });
    expect(server.seen).toHaveLength(3);
    expect(server.seen[0]).toBe('GET /v23.0/1 Bearer EAAtoken-for-the-scripted-server');
    expect(retries).toEqual(['code 2', 'code 4']);
    await graph.close();
    await server.close();
  });

  it('does not retry a POST unless asked, nor a permanent error', async () => {
    const server = await scriptedServer([
      { status: 500, body: { error: { message: 'Unknown', code: 1 } } },
      { status: 400, body: { error: { message: 'Bad param', code: 100 } } },
    ]);
    const graph = createGraphClient({ baseUrl: server.url, version: 'v23.0', accessToken: 'EAAtoken-x-123456', sleep: noSleep });
    await expect(graph.post('1/messages', { a: 1 })).rejects.toMatchObject({ status: 500, code: 1 });
    await expect(graph.get('1')).rejects.toMatchObject({ status: 400, code: 100 });
    expect(server.seen).toHaveLength(2);
    await graph.close();
    await server.close();
  });

  it('refuses to follow paging.next to another host with the token', async () => {
    const server = await scriptedServer([
      { status: 200, body: { data: [{ id: 1 }], paging: { next: 'https://elsewhere.example/v23.0/x?after=1' } } },
    ]);
    const graph = createGraphClient({ baseUrl: server.url, version: 'v23.0', accessToken: 'EAAtoken-x-123456' });
    await expect(graph.getAll('x')).rejects.toThrow(/another host/);
    await graph.close();
    await server.close();
  });

  it('reports a refused connection as a clear network error', async () => {
    const graph = createGraphClient({ baseUrl: 'http://127.0.0.1:9', version: 'v23.0', accessToken: 'EAAtoken-x-123456' });
    const error = await graph.get('1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphNetworkError);
    expect((error as GraphNetworkError).message).toBe('Cannot reach the Graph API at http://127.0.0.1:9 (connection refused).');
    await graph.close();
  });
});
