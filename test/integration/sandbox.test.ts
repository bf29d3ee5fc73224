import { request as httpRequest } from 'node:http';
import { connect, createServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  SANDBOX_ACCESS_TOKEN,
  SANDBOX_APP,
  SANDBOX_APP_SECRET,
  SANDBOX_DISPLAY_PHONE_NUMBER,
  SANDBOX_PHONE_NUMBER_ID,
  SANDBOX_WABA_ID,
  seedTemplates,
  startSandbox,
  type SandboxHandle,
} from '../../src/sandbox/index.js';

const V = 'v23.0';
const TO = '+1 (555) 000-1111';
const TO_DIGITS = '15550001111';

let sandbox: SandboxHandle;
const logLines: string[] = [];

beforeAll(async () => {
  sandbox = await startSandbox({ log: (line) => logLines.push(line) });
});
afterAll(async () => {
  await sandbox.close();
});
beforeEach(() => {
  sandbox.reset();
});

function auth(token = SANDBOX_ACCESS_TOKEN): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

async function graph(path: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const url = path.startsWith('http') ? path : `${sandbox.url}${path}`;
  const res = await fetch(url, { ...init, headers: { ...auth(), ...(init.headers as Record<string, string>) } });
  return { status: res.status, body: await res.json() };
}

function post(path: string, body: unknown): Promise<{ status: number; body: any }> {
  return graph(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

function send(body: unknown): Promise<{ status: number; body: any }> {
  return post(`/${V}/${SANDBOX_PHONE_NUMBER_ID}/messages`, body);
}

function control(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${sandbox.url}/_sandbox/${path}`, init);
}

const textMessage = (to = TO, body = 'hello') => ({
  messaging_product: 'whatsapp',
  recipient_type: 'individual',
  to,
  type: 'text',
  text: { body, preview_url: false },
});

const orderUpdate = (params: string[]) => ({
  messaging_product: 'whatsapp',
  to: TO,
  type: 'template',
  template: {
    name: 'order_update',
    language: { code: 'en_US' },
    components: [{ type: 'body', parameters: params.map((text) => ({ type: 'text', text })) }],
  },
});

function expectMetaError(body: any, code: number): void {
  expect(body.error).toMatchObject({ code, type: expect.any(String), message: expect.any(String) });
  expect(body.error.fbtrace_id).toMatch(/^[A-Za-z0-9_-]{10,}$/);
}

describe('seed and handle', () => {
  it('exposes the seed values', () => {
    expect(sandbox.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(sandbox.port).toBe(Number(new URL(sandbox.url).port));
    expect(sandbox.accessToken).toBe(SANDBOX_ACCESS_TOKEN);
    expect(SANDBOX_ACCESS_TOKEN).toMatch(/^EAA\S*SANDBOX\S*$/);
    expect(SANDBOX_ACCESS_TOKEN.length).toBeGreaterThanOrEqual(40);
    expect(sandbox.appSecret).toBe(SANDBOX_APP_SECRET);
    expect(SANDBOX_APP_SECRET).toMatch(/^[0-9a-f]{32}$/);
    expect(sandbox.phoneNumberId).toBe('106540352242922');
    expect(sandbox.wabaId).toBe('102290129340398');
    const templates = seedTemplates();
    expect(templates.length).toBeGreaterThanOrEqual(5);
    expect(new Set(templates.map((t) => t.id)).size).toBe(templates.length);
    for (const t of templates) expect(t.id).toMatch(/^\d+$/);
  });
});

describe('GET /{phone-number-id}', () => {
  it('returns the number with the default fields', async () => {
    const { status, body } = await graph(`/${V}/${SANDBOX_PHONE_NUMBER_ID}`);
    expect(status).toBe(200);
    expect(body).toEqual({
      id: SANDBOX_PHONE_NUMBER_ID,
      display_phone_number: SANDBOX_DISPLAY_PHONE_NUMBER,
      verified_name: 'Lumen Sandbox',
      quality_rating: 'GREEN',
      code_verification_status: 'VERIFIED',
      platform_type: 'CLOUD_API',
      throughput: { level: 'STANDARD' },
    });
  });

  it('returns only the requested fields plus id', async () => {
    const { status, body } = await graph(`/${V}/${SANDBOX_PHONE_NUMBER_ID}?fields=verified_name,quality_rating`);
    expect(status).toBe(200);
    expect(body).toEqual({ id: SANDBOX_PHONE_NUMBER_ID, verified_name: 'Lumen Sandbox', quality_rating: 'GREEN' });
  });

  it('answers an unknown field with (#100)', async () => {
    const { status, body } = await graph(`/${V}/${SANDBOX_PHONE_NUMBER_ID}?fields=id,nope`);
    expect(status).toBe(400);
    expectMetaError(body, 100);
    expect(body.error.message).toContain('nonexisting field (nope)');
  });

  it('accepts any vX.Y version', async () => {
    expect((await graph(`/v25.0/${SANDBOX_PHONE_NUMBER_ID}`)).status).toBe(200);
    expect((await graph(`/v19.0/${SANDBOX_PHONE_NUMBER_ID}`)).status).toBe(200);
  });
});

describe('auth', () => {
  it('answers a wrong token with 401 and code 190', async () => {
    const res = await fetch(`${sandbox.url}/${V}/${SANDBOX_PHONE_NUMBER_ID}`, { headers: auth('EAAwrong') });
    expect(res.status).toBe(401);
    const body = (await res.json()) as any;
    expect(body.error).toMatchObject({
      message: 'Invalid OAuth access token - Cannot parse access token',
      type: 'OAuthException',
      code: 190,
    });
    expectMetaError(body, 190);
  });

  it('answers a missing token with 401 and code 190, even on unknown paths', async () => {
    for (const path of [`/${V}/${SANDBOX_PHONE_NUMBER_ID}`, `/${V}/999/whatever`]) {
      const res = await fetch(`${sandbox.url}${path}`);
      expect(res.status).toBe(401);
      expect(((await res.json()) as any).error.code).toBe(190);
    }
  });

  it('accepts the access_token query parameter and never logs it', async () => {
    const res = await fetch(`${sandbox.url}/${V}/${SANDBOX_PHONE_NUMBER_ID}?access_token=${SANDBOX_ACCESS_TOKEN}`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.some((l) => l.includes(SANDBOX_ACCESS_TOKEN))).toBe(false);
    expect(logLines.at(-1)).toMatch(/^GET \/v23\.0\/106540352242922\?access_token=%5Bredacted%5D 200 \d+ms$/);
  });

  it('every error gets its own fbtrace_id', async () => {
    const a = await graph(`/${V}/1`);
    const b = await graph(`/${V}/1`);
    expect(a.body.error.fbtrace_id).not.toBe(b.body.error.fbtrace_id);
  });
});

describe('web pages', () => {
  /** A request as a browser makes it: with its page's Origin, or to a rebound name. */
  const asPage = (path: string, headers: Record<string, string>, body?: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const request = httpRequest(`${sandbox.url}${path}`, { method: body === undefined ? 'GET' : 'POST', headers }, (response) => {
        let text = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve({ status: response.statusCode!, text }));
      });
      request.on('error', reject);
      request.end(body);
    });

  it('refuses a page of another origin, and a Host that is not loopback (DNS rebinding): nothing is injected', async () => {
    const inbound = JSON.stringify({ from: '15551234567', type: 'text', text: 'drive-by' });
    const port = new URL(sandbox.url).port;
    const crossSite = await asPage('/_sandbox/inbound', { origin: 'https://evil.example', 'content-type': 'text/plain' }, inbound);
    expect(crossSite.status).toBe(403);
    expect(JSON.parse(crossSite.text).error.message).toBe('The sandbox does not answer web pages of other origins.');
    const rebound = await asPage('/_sandbox/sent', { host: `evil.example:${port}` });
    expect([rebound.status, JSON.parse(rebound.text).error.message]).toEqual([403, `The sandbox answers only for a loopback Host, not "evil.example:${port}".`]);
    for (const host of ['127.0.0.1.evil.example', '127.0.0.1evil', '127.1.2']) {
      expect((await asPage('/_sandbox/sent', { host: `${host}:${port}` })).status, host).toBe(403);
    }
    expect((await asPage('/_sandbox/sent', { host: `LOCALHOST:${port}` })).status).toBe(200);
    expect((await asPage('/_sandbox/sent', { host: `127.1.2.3:${port}` })).status).toBe(200);
    expect(sandbox.webhooks()).toEqual([]);
    // Programs (no Origin) and a page of its own origin are answered
    const own = await asPage('/_sandbox/sent', { origin: sandbox.url, host: new URL(sandbox.url).host });
    expect(own.status).toBe(200);
    expect((await asPage('/_sandbox/sent', { host: `localhost:${port}` })).status).toBe(200);
  });
});

describe('unknown objects and routes', () => {
  it('answers an unknown id with 100/33', async () => {
    const { status, body } = await graph(`/${V}/123456`);
    expect(status).toBe(400);
    expect(body.error).toMatchObject({
      message:
        "Unsupported get request. Object with ID '123456' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
      type: 'GraphMethodException',
      code: 100,
      error_subcode: 33,
    });
    expectMetaError(body, 100);
  });

  it('says "post request" for a POST', async () => {
    const { status, body } = await post(`/${V}/123456/messages`, textMessage());
    expect(status).toBe(400);
    expect(body.error.message).toMatch(/^Unsupported post request\. Object with ID '123456'/);
    expect(body.error.error_subcode).toBe(33);
    expect(sandbox.sent()).toEqual([]);
  });

  it('answers unknown edges, wrong methods and unversioned paths the same way', async () => {
    const cases = [
      graph(`/${V}/${SANDBOX_PHONE_NUMBER_ID}/message_templates`),
      graph(`/${V}/${SANDBOX_WABA_ID}/nope`),
      graph(`/${V}/${SANDBOX_PHONE_NUMBER_ID}/messages`),
      graph(`/${SANDBOX_PHONE_NUMBER_ID}`),
      graph(`/${V}/${SANDBOX_WABA_ID}/message_templates/extra`),
    ];
    for (const { status, body } of await Promise.all(cases)) {
      expect(status).toBe(400);
      expect(body.error).toMatchObject({ code: 100, error_subcode: 33 });
    }
  });
});

describe('GET /{waba-id}/message_templates', () => {
  async function collect(firstPath: string): Promise<{ pages: any[]; templates: any[] }> {
    const pages: any[] = [];
    let next: string | undefined = `${sandbox.url}${firstPath}`;
    while (next !== undefined) {
      const { status, body } = await graph(next);
      expect(status).toBe(200);
      pages.push(body);
      next = body.paging?.next;
      expect(pages.length).toBeLessThan(20);
    }
    return { pages, templates: pages.flatMap((p) => p.data) };
  }

  it('follows paging.next across pages and returns every template exactly once', async () => {
    const { pages, templates } = await collect(`/${V}/${SANDBOX_WABA_ID}/message_templates?limit=25`);
    expect(pages.length).toBeGreaterThanOrEqual(3);
    for (const page of pages) expect(page.data.length).toBeLessThanOrEqual(2);
    // Templates come back exactly as seeded, Meta's shape included.
    expect(templates).toEqual(seedTemplates());
    expect(new Set(templates.map((t) => t.id)).size).toBe(templates.length);
  });

  it('builds absolute next links on its own origin, same version and query', async () => {
    const { body } = await graph(`/v24.0/${SANDBOX_WABA_ID}/message_templates?limit=2&status=APPROVED`);
    expect(body.paging.cursors).toEqual({ before: expect.any(String), after: expect.any(String) });
    const next = new URL(body.paging.next);
    expect(next.origin).toBe(sandbox.url);
    expect(next.pathname).toBe(`/v24.0/${SANDBOX_WABA_ID}/message_templates`);
    expect(next.searchParams.get('limit')).toBe('2');
    expect(next.searchParams.get('status')).toBe('APPROVED');
    expect(next.searchParams.get('after')).toBe(body.paging.cursors.after);
  });

  it('omits next on the last page', async () => {
    const { pages } = await collect(`/${V}/${SANDBOX_WABA_ID}/message_templates`);
    const last = pages.at(-1);
    expect(last.paging.next).toBeUndefined();
    expect(last.paging.cursors.after).toEqual(expect.any(String));
    for (const page of pages.slice(0, -1)) expect(page.paging.next).toEqual(expect.any(String));
  });

  it('respects a limit below the page cap', async () => {
    const { pages, templates } = await collect(`/${V}/${SANDBOX_WABA_ID}/message_templates?limit=1`);
    expect(pages.length).toBe(seedTemplates().length);
    expect(templates.map((t) => t.id)).toEqual(seedTemplates().map((t) => t.id));
  });

  it('filters by status and name', async () => {
    const approved = await collect(`/${V}/${SANDBOX_WABA_ID}/message_templates?status=APPROVED`);
    expect(approved.templates.map((t) => `${t.name}/${t.language}`)).toEqual([
      'hello_world/en_US',
      'order_update/en_US',
      'order_update/es',
      'welcome/en_US',
      'appointment_reminder/en_US',
    ]);
    const named = await collect(`/${V}/${SANDBOX_WABA_ID}/message_templates?name=order_update`);
    expect(named.templates.map((t) => t.language)).toEqual(['en_US', 'es']);
  });

  it('returns Meta-shaped components', async () => {
    const { templates } = await collect(`/${V}/${SANDBOX_WABA_ID}/message_templates`);
    const order = templates.find((t) => t.name === 'order_update' && t.language === 'en_US');
    expect(order).toMatchObject({
      status: 'APPROVED',
      category: 'UTILITY',
      parameter_format: 'POSITIONAL',
      components: [
        { type: 'HEADER', format: 'TEXT', text: 'Order {{1}}', example: { header_text: [expect.any(String)] } },
        { type: 'BODY', text: 'Hi {{1}}, your order {{2}} has shipped.', example: { body_text: [['Ana', '#123']] } },
        {
          type: 'BUTTONS',
          buttons: [
            { type: 'URL', url: 'https://x.example/track/{{1}}', example: ['https://x.example/track/ABC'] },
          ],
        },
      ],
    });
    const welcome = templates.find((t) => t.name === 'welcome');
    expect(welcome.parameter_format).toBe('NAMED');
    expect(welcome.components[0].example.body_text_named_params).toEqual([
      { param_name: 'first_name', example: 'Ana' },
      { param_name: 'shop', example: 'Lumen Store' },
    ]);
    const reminder = templates.find((t) => t.name === 'appointment_reminder');
    expect(reminder.components[1].buttons.map((b: any) => b.type)).toEqual(['QUICK_REPLY', 'QUICK_REPLY']);
    expect(templates.find((t) => t.name === 'promo_rejected').status).toBe('REJECTED');
    expect(templates.find((t) => t.name === 'pending_offer').status).toBe('PENDING');
  });

  it('rejects a bad cursor and a bad limit with (#100)', async () => {
    const cursor = await graph(`/${V}/${SANDBOX_WABA_ID}/message_templates?after=not-a-cursor`);
    expect(cursor.status).toBe(400);
    expectMetaError(cursor.body, 100);
    const limit = await graph(`/${V}/${SANDBOX_WABA_ID}/message_templates?limit=abc`);
    expect(limit.status).toBe(400);
    expectMetaError(limit.body, 100);
  });

  it('lists templates added on the handle', async () => {
    // A sandbox of its own, so the shared one keeps exactly the seed templates.
    const other = await startSandbox();
    const otherGraph = async (path: string, init: RequestInit = {}) => {
      const res = await fetch(`${other.url}${path}`, { ...init, headers: { ...auth(), ...(init.headers as object) } });
      return { status: res.status, body: (await res.json()) as any };
    };
    other.addTemplates([
      {
        id: '999000111',
        name: 'added_later',
        language: 'en_US',
        status: 'APPROVED',
        category: 'UTILITY',
        parameter_format: 'POSITIONAL',
        components: [{ type: 'BODY', text: 'Later.' }],
      },
    ]);
    try {
      const listed = await otherGraph(`/${V}/${SANDBOX_WABA_ID}/message_templates?name=added_later`);
      expect(listed.body.data.map((t: any) => t.id)).toEqual(['999000111']);
      const sent = await otherGraph(`/${V}/${SANDBOX_PHONE_NUMBER_ID}/messages`, {
        method: 'POST',
        body: JSON.stringify({
          messaging_product: 'whatsapp',
          to: TO,
          type: 'template',
          template: { name: 'added_later', language: { code: 'en_US' } },
        }),
      });
      expect(sent.status).toBe(200);
      expect(other.status().templates).toBe(seedTemplates().length + 1);
    } finally {
      await other.close();
    }
  });
});

describe('subscribed_apps', () => {
  it('starts unsubscribed, subscribes on POST, lists the app after', async () => {
    const path = `/${V}/${SANDBOX_WABA_ID}/subscribed_apps`;
    expect(await graph(path)).toEqual({ status: 200, body: { data: [] } });

    const subscribe = await graph(path, { method: 'POST' });
    expect(subscribe).toEqual({ status: 200, body: { success: true } });

    const { status, body } = await graph(path);
    expect(status).toBe(200);
    expect(body).toEqual({
      data: [{ whatsapp_business_api_data: { id: SANDBOX_APP.id, name: SANDBOX_APP.name, link: SANDBOX_APP.link } }],
    });
    expect(((await (await control('state')).json()) as any).subscribed).toBe(true);
  });

  it('reset unsubscribes again', async () => {
    await graph(`/${V}/${SANDBOX_WABA_ID}/subscribed_apps`, { method: 'POST' });
    sandbox.reset();
    expect((await graph(`/${V}/${SANDBOX_WABA_ID}/subscribed_apps`)).body).toEqual({ data: [] });
  });

  it('can start subscribed', async () => {
    const other = await startSandbox({ subscribed: true });
    try {
      const res = await fetch(`${other.url}/${V}/${SANDBOX_WABA_ID}/subscribed_apps`, { headers: auth() });
      expect(((await res.json()) as any).data).toHaveLength(1);
    } finally {
      await other.close();
    }
  });
});

describe('POST /{phone-number-id}/messages', () => {
  it('accepts a text message', async () => {
    const { status, body } = await send(textMessage());
    expect(status).toBe(200);
    expect(body).toEqual({
      messaging_product: 'whatsapp',
      contacts: [{ input: TO, wa_id: TO_DIGITS }],
      messages: [{ id: expect.stringMatching(/^wamid\.[A-Za-z0-9+/=]+$/) }],
    });
  });

  it('accepts a template message with message_status', async () => {
    const { status, body } = await send(orderUpdate(['Ana', '#123']));
    expect(status).toBe(200);
    expect(body.messages).toEqual([{ id: expect.stringMatching(/^wamid\./), message_status: 'accepted' }]);
  });

  it('gives every message a unique wamid', async () => {
    const ids = await Promise.all(Array.from({ length: 25 }, () => send(textMessage()).then((r) => r.body.messages[0].id)));
    expect(new Set(ids).size).toBe(25);
  });

  it('accepts a named template with matching parameter names', async () => {
    const { status } = await send({
      messaging_product: 'whatsapp',
      to: TO,
      type: 'template',
      template: {
        name: 'welcome',
        language: { code: 'en_US' },
        components: [
          {
            type: 'body',
            parameters: [
              { type: 'text', parameter_name: 'first_name', text: 'Ana' },
              { type: 'text', parameter_name: 'shop', text: 'Lumen' },
            ],
          },
        ],
      },
    });
    expect(status).toBe(200);
  });

  it('rejects an unknown, unapproved or wrong-language template with 132001', async () => {
    for (const [name, code] of [
      ['no_such_template', 'en_US'],
      ['pending_offer', 'en_US'],
      ['promo_rejected', 'en_US'],
      ['hello_world', 'es'],
    ] as const) {
      const { status, body } = await send({
        messaging_product: 'whatsapp',
        to: TO,
        type: 'template',
        template: { name, language: { code } },
      });
      expect(status).toBe(400);
      expectMetaError(body, 132001);
      expect(body.error.message).toBe('(#132001) Template name does not exist in the translation');
      expect(body.error.error_data).toEqual({
        messaging_product: 'whatsapp',
        details: `template name (${name}) does not exist in ${code}`,
      });
    }
  });

  it('rejects a positional parameter-count mismatch with 132000', async () => {
    const { status, body } = await send(orderUpdate(['Ana']));
    expect(status).toBe(400);
    expectMetaError(body, 132000);
    expect(body.error.message).toBe('(#132000) Number of parameters does not match the expected number of params');
  });

  it('validates the request shape with (#100)', async () => {
    const bad: [unknown, string][] = [
      [{ to: TO, type: 'text', text: { body: 'x' } }, 'messaging_product'],
      [{ messaging_product: 'sms', to: TO, text: { body: 'x' } }, 'messaging_product'],
      [{ messaging_product: 'whatsapp', type: 'text', text: { body: 'x' } }, 'to'],
      [{ messaging_product: 'whatsapp', to: TO, type: 'text', text: {} }, "text['body']"],
      [{ messaging_product: 'whatsapp', to: TO, type: 'fax', fax: {} }, 'type'],
      [{ messaging_product: 'whatsapp', to: TO, type: 'template', template: { language: { code: 'en_US' } } }, 'name'],
      [{ messaging_product: 'whatsapp', to: TO, type: 'template', template: { name: 'hello_world' } }, 'language'],
    ];
    for (const [body, mention] of bad) {
      const res = await send(body);
      expect(res.status).toBe(400);
      expectMetaError(res.body, 100);
      expect(res.body.error.message).toMatch(/^\(#100\) /);
      expect(res.body.error.message).toContain(mention);
    }
    // Rejected sends are recorded too.
    expect(sandbox.sent().map((s) => s.outcome.result)).toEqual(Array(bad.length).fill('failed'));
  });

  it('answers a body that is not JSON with (#100) and records nothing', async () => {
    const { status, body } = await graph(`/${V}/${SANDBOX_PHONE_NUMBER_ID}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"messaging_product":',
    });
    expect(status).toBe(400);
    expectMetaError(body, 100);
    expect(body.error.message).toMatch(/^\(#100\) /);
    expect(sandbox.sent()).toEqual([]);
  });

  it('answers a body over 1 MiB with 413', async () => {
    const { status, body } = await graph(`/${V}/${SANDBOX_PHONE_NUMBER_ID}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...textMessage(), pad: 'x'.repeat(1024 * 1024) }),
    });
    expect(status).toBe(413);
    expectMetaError(body, 100);
  });
});

describe('recorded sends', () => {
  it('records the exact body, time and outcome, newest last', async () => {
    const first = orderUpdate(['Ana', '#123']);
    const second = textMessage('+44 7700 900123', 'ünïcødé ✓');
    const before = Date.now();
    const accepted = await send(first);
    await send(second);
    const rejected = await send(orderUpdate(['only one']));

    const sent = sandbox.sent();
    expect(sent.map((s) => s.body)).toEqual([first, second, orderUpdate(['only one'])]);
    expect(sent[0]).toMatchObject({
      phoneNumberId: SANDBOX_PHONE_NUMBER_ID,
      to: TO,
      waId: TO_DIGITS,
      outcome: { result: 'accepted', status: 200, wamid: accepted.body.messages[0].id },
    });
    expect(sent[0]!.at).toBeGreaterThanOrEqual(before);
    expect(sent[2]!.outcome).toEqual({ result: 'failed', status: 400, error: rejected.body.error });

    // The control API tells the same story, filtered by recipient digits.
    const res = await control(`sent?to=${encodeURIComponent('447700900123')}`);
    expect(res.status).toBe(200);
    const { data } = (await res.json()) as any;
    expect(data).toHaveLength(1);
    expect(data[0].body).toEqual(second);
    expect(sandbox.sent(TO)).toHaveLength(2);
  });
});

describe('fault injection', () => {
  async function fault(body: unknown): Promise<void> {
    const res = await control('faults', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  }

  it('131047 with times 0 fails every send to that recipient only', async () => {
    await fault({ to: TO_DIGITS, code: 131047, times: 0 });
    for (let i = 0; i < 3; i += 1) {
      const { status, body } = await send(textMessage());
      expect(status).toBe(400);
      expect(body.error).toMatchObject({
        message: '(#131047) Re-engagement message',
        type: 'OAuthException',
        code: 131047,
        error_data: {
          messaging_product: 'whatsapp',
          details:
            'Message failed to send because more than 24 hours have passed since the customer last replied to this number.',
        },
      });
      expectMetaError(body, 131047);
    }
    expect((await send(textMessage('+15550002222'))).status).toBe(200);
  });

  it('130429 once, then success', async () => {
    await fault({ to: TO, code: 130429 });
    const failed = await send(textMessage());
    expect(failed.status).toBe(400);
    expect(failed.body.error).toMatchObject({ code: 130429, message: '(#130429) Rate limit hit' });
    expect((await send(textMessage())).status).toBe(200);
    expect(sandbox.sent().map((s) => s.outcome.status)).toEqual([400, 200]);
  });

  it('500 once, then success', async () => {
    sandbox.addFault({ to: TO, code: 500 });
    const failed = await send(textMessage());
    expect(failed.status).toBe(500);
    expect(failed.body.error).toMatchObject({
      message: 'An unknown error occurred',
      type: 'OAuthException',
      code: 1,
      is_transient: true,
    });
    expectMetaError(failed.body, 1);
    expect((await send(textMessage())).status).toBe(200);
  });

  it('queues faults in order and honours status, 131056 and 131026', async () => {
    sandbox.addFault({ to: TO, code: 131056, times: 2, status: 429 });
    sandbox.addFault({ to: TO, code: 131026 });
    const results = [];
    for (let i = 0; i < 4; i += 1) {
      const { status, body } = await send(textMessage());
      results.push([status, body.error?.code ?? 'ok']);
    }
    expect(results).toEqual([
      [429, 131056],
      [429, 131056],
      [400, 131026],
      [200, 'ok'],
    ]);
  });

  it('takes a JSON body sent as a form, the way `curl -d` sends it', async () => {
    const res = await control('faults', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: JSON.stringify({ to: TO_DIGITS, code: 131047 }),
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect((await send(textMessage())).body.error.code).toBe(131047);
  });

  it('rejects a malformed fault', async () => {
    const res = await control('faults', { method: 'POST', body: JSON.stringify({ to: 'abc', code: 131047 }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.message).toContain('to');
    expect(() => sandbox.addFault({ to: TO, code: 131047, times: -1 })).toThrow(/times/);
  });

  it('reset clears sends and faults', async () => {
    await fault({ to: TO, code: 131047, times: 0 });
    await send(textMessage());
    const reset = await control('reset', { method: 'POST' });
    expect(reset.status).toBe(200);
    await reset.arrayBuffer();
    expect(sandbox.sent()).toEqual([]);
    expect((await send(textMessage())).status).toBe(200);
  });
});

describe('control API', () => {
  it('reports state', async () => {
    await send(textMessage());
    sandbox.addFault({ to: TO, code: 131047 });
    const res = await control('state');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      number: { id: SANDBOX_PHONE_NUMBER_ID, displayPhoneNumber: SANDBOX_DISPLAY_PHONE_NUMBER, verifiedName: 'Lumen Sandbox' },
      waba: { id: SANDBOX_WABA_ID },
      app: { id: SANDBOX_APP.id, name: SANDBOX_APP.name },
      templates: seedTemplates().length,
      subscribed: false,
      sent: 1,
      pendingFaults: 1,
    });
  });

  it('answers unknown control routes with 404', async () => {
    const res = await control('nope');
    expect(res.status).toBe(404);
    await res.arrayBuffer();
  });
});

describe('lifecycle', () => {
  it('honours maxPageSize and a custom token', async () => {
    const other = await startSandbox({ maxPageSize: 10, accessToken: 'EAAcustomSANDBOXtoken' });
    try {
      const res = await fetch(`${other.url}/${V}/${SANDBOX_WABA_ID}/message_templates`, {
        headers: auth('EAAcustomSANDBOXtoken'),
      });
      const body = (await res.json()) as any;
      expect(body.data).toHaveLength(seedTemplates().length);
      expect(body.paging.next).toBeUndefined();
      expect((await fetch(`${other.url}/${V}/${SANDBOX_PHONE_NUMBER_ID}`, { headers: auth() })).status).toBe(401);
    } finally {
      await other.close();
    }
  });

  // The busy connection would hold a close that waits for connections for at least 60 s (Node's headersTimeout):
  // this test's timeout sits below that, far above what closing takes on any machine.
  it('close() frees the port even with a keep-alive connection open and a request half sent', { timeout: 45_000 }, async () => {
    const other = await startSandbox();
    const res = await fetch(`${other.url}/${V}/${SANDBOX_PHONE_NUMBER_ID}`, { headers: auth() });
    expect(res.status).toBe(200);
    await res.arrayBuffer(); // the connection stays in undici's keep-alive pool
    // A connection with a request under way is not idle: a close that only ended idle connections would wait for it
    const busy = connect(other.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => busy.once('connect', resolve).once('error', reject));
    const busyClosed = new Promise<void>((resolve) => busy.once('close', () => resolve()));
    busy.on('error', () => undefined);
    busy.write(`GET /${V}/${SANDBOX_PHONE_NUMBER_ID} HTTP/1.1\r\nHost: 127.0.0.1\r\n`); // no blank line: headers unfinished
    await other.close();
    await busyClosed; // closed by the server, not by us
    await expect(fetch(`${other.url}/${V}/${SANDBOX_PHONE_NUMBER_ID}`, { headers: auth() })).rejects.toThrow();
    // The same port can be bound again right away.
    await new Promise<void>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', reject);
      probe.listen(other.port, '127.0.0.1', () => probe.close(() => resolve()));
    });
    await other.close(); // idempotent
  });
});
