import { describe, expect, it } from 'vitest';
import { DeliveryLog, MAX_KEPT_BODY } from '../../src/relay/deliveries.js';
import { escapeHtml, html } from '../../src/relay/console/html.js';

const entry = (body: Buffer | string, extra: Partial<Parameters<DeliveryLog['add']>[0]> = {}) => ({
  atMs: Date.parse('2026-12-02T10:00:30.000Z'),
  method: 'POST',
  url: '/webhooks/whatsapp/wa_1',
  integrationId: 'wa_1',
  kind: 'message' as const,
  summary: '1 message: hi',
  signature: 'valid' as const,
  headers: { 'content-type': 'application/json' },
  body: Buffer.isBuffer(body) ? body : Buffer.from(body),
  numbers: ['15551234567'],
  status: 200,
  answer: '{"status":"received"}',
  ...extra,
});

describe('console HTML', () => {
  it('escapes every interpolated value, in text and in attributes, unless it is HTML the tag built', () => {
    expect(escapeHtml(`<script>"it's" & \`x\`</script>`)).toBe('&lt;script&gt;&quot;it&#39;s&quot; &amp; &#96;x&#96;&lt;/script&gt;');
    const name = '"><img src=x onerror=alert(1)>';
    expect(html`<a title="${name}">${name}</a>`.value).toBe(
      '<a title="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;">&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</a>',
    );
    expect(html`<ul>${['<b>', html`<li>${'<i>'}</li>`]}</ul>`.value).toBe('<ul>&lt;b&gt;<li>&lt;i&gt;</li></ul>');
    expect(html`${null}${undefined}${false}${0}`.value).toBe('0');
  });
});

describe('the delivery log', () => {
  it('keeps the newest requests within its count and byte budgets, a big body cut with its length noted', () => {
    const log = new DeliveryLog(3, 10_000);
    for (let i = 0; i < 5; i++) log.add(entry(`{"n":${i}}`));
    expect(log.list({ limit: 10 }).map((r) => r.body.toString())).toEqual(['{"n":4}', '{"n":3}', '{"n":2}']);
    const big = log.add(entry(Buffer.alloc(MAX_KEPT_BODY + 10, 'a')));
    expect(big.body.length).toBe(MAX_KEPT_BODY);
    expect(big.bodyBytes).toBe(MAX_KEPT_BODY + 10);
    // Over the byte budget the oldest go, the newest stays.
    expect(log.list({ limit: 10 }).map((r) => r.id)).toEqual([big.id]);
  });

  it('never keeps the verify token or credentials headers', () => {
    const log = new DeliveryLog();
    const record = log.add(
      entry('', {
        method: 'GET',
        url: '/webhooks/whatsapp/wa_1?hub.mode=subscribe&hub.verify_token=lvt_secret&hub.challenge=42',
        headers: { authorization: 'Bearer lk_secret', cookie: 'lumen_console=ct_secret', 'user-agent': 'facebookplatform' },
      }),
    );
    expect(record.url).toBe('/webhooks/whatsapp/wa_1?hub.mode=subscribe&hub.verify_token=…&hub.challenge=42');
    expect(record.headers).toEqual({ authorization: '…', cookie: '…', 'user-agent': 'facebookplatform' });
    // However the name is spelled, and each time it is given
    const spelled = log.add(entry('', { method: 'GET', url: '/webhooks/whatsapp/wa_1?hub%2Everify_token=lvt_a&hub.verify_token=lvt_b&x=1' }));
    expect(spelled.url).toBe('/webhooks/whatsapp/wa_1?hub%2Everify_token=…&hub.verify_token=…&x=1');
  });

  it('filters by kind, number and text, pages before an id, counts per minute and tells its listeners', () => {
    const log = new DeliveryLog();
    const seen: number[] = [];
    const stop = log.subscribe((r) => seen.push(r.id));
    const a = log.add(entry('{"text":"Hello there"}'));
    const b = log.add(entry('{}', { kind: 'rejected', numbers: [], summary: 'Missing X-Hub-Signature-256.', atMs: Date.parse('2026-12-02T10:01:10.000Z') }));
    stop();
    log.add(entry('{"text":"after"}', { numbers: ['15559990000'] }));
    expect(seen).toEqual([a.id, b.id]);
    expect(log.list({ kind: 'rejected', limit: 10 }).map((r) => r.id)).toEqual([b.id]);
    expect(log.list({ number: '+1 555 123 4567', limit: 10 }).map((r) => r.id)).toEqual([a.id]);
    expect(log.list({ text: 'hello THERE', limit: 10 }).map((r) => r.id)).toEqual([a.id]);
    expect(log.list({ text: 'missing x-hub', limit: 10 }).map((r) => r.id)).toEqual([b.id]);
    expect(log.list({ before: b.id, limit: 10 }).map((r) => r.id)).toEqual([a.id]);
    expect(log.perMinute(new Date('2026-12-02T10:01:59Z'), 3).map((p) => p.n)).toEqual([0, 2, 1]);
  });
});
