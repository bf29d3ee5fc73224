import { describe, expect, it, vi } from 'vitest';
import { printEvent } from '../../src/cli/commands/relay/start.js';
import type { Context } from '../../src/cli/context.js';
import { Output } from '../../src/cli/output.js';
import { printable, table } from '../../src/cli/table.js';

describe('table', () => {
  it('fits the width it is given, cutting the widest column with …', () => {
    const lines = table(['ID', 'TEXT', 'WHEN'], [['in_1', 'x'.repeat(60), '2026-12-02 10:00:00 UTC']], { width: 50 });
    expect(lines.every((line) => line.length <= 50)).toBe(true);
    expect(lines[1]).toMatch(/^in_1 {2}x+… {2}2026-12-02 10:00:00 UTC$/);
  });

  it('cuts the column it is told to, and leaves cells whole without a width (a pipe)', () => {
    const rows = [['a'.repeat(30), 'b'.repeat(30)]];
    expect(table(['A', 'B'], rows, { width: 40, shrink: 0 })[1]).toBe(`${'a'.repeat(7)}…  ${'b'.repeat(30)}`);
    expect(table(['A', 'B'], rows, {})[1]).toBe(`${'a'.repeat(30)}  ${'b'.repeat(30)}`);
  });
});

describe('text from outside in human output', () => {
  it('shows control characters and bidirectional overrides as visible escapes, so a stranger cannot drive the terminal', () => {
    expect(printable('Ev\u001b[31mil\u001b]0;pwned\u0007 \u202egnp.exe\u0085')).toBe('Ev\\u001b[31mil\\u001b]0;pwned\\u0007 \\u202egnp.exe\\u0085');
    // The Arabic letter mark is a bidi mark as U+200F is
    expect(printable('a\u061cb\u200fc')).toBe('a\\u061cb\\u200fc');
    expect(printable('Zoë 👋 مرحبا')).toBe('Zoë 👋 مرحبا');
    const [, row] = table(['name'], [['Ev\u001b[2Jil']], { width: 0 });
    expect(row).toBe('Ev\\u001b[2Jil');
  });
});

describe("the relay's lines", () => {
  it('quote what a stranger wrote in an edit, and what Meta reported, with the same visible escapes', () => {
    const written: string[] = [];
    const out = new Output({ json: false, debug: false, env: { NO_COLOR: '1' }, stdout: { write: (t: string) => written.push(t), isTTY: false } as never });
    const ctx = { out } as unknown as Context;
    const hostile = 'x\u202egnp.exe\u009b31mRED\u2066';
    printEvent(ctx, { event: 'change', integrationId: 'wa_1', object: 'message', field: 'messages', text: `wamid.A edited: "${hostile}"` });
    printEvent(ctx, { event: 'webhook_error', integrationId: 'wa_1', code: 131000, title: hostile, message: null, details: hostile });
    expect(written.join('')).not.toMatch(/[\u009b\u202e\u2066]/);
    expect(written[0]).toBe('◆ wamid.A edited: "x\\u202egnp.exe\\u009b31mRED\\u2066"\n');
  });

  it('print one refusal a second of a kind, and how many more came (a flood would push all else off the terminal)', () => {
    vi.useFakeTimers();
    try {
      const written: string[] = [];
      const out = new Output({ json: false, debug: false, env: { NO_COLOR: '1' }, stdout: { write: (t: string) => written.push(t), isTTY: false } as never });
      const ctx = { out } as unknown as Context;
      const limited = { event: 'rejected', status: 429, reason: 'Too many deliveries: over 1000 deliveries/s for this number (--rate-limit); Meta retries.' } as const;
      for (let i = 0; i < 500; i += 1) printEvent(ctx, limited);
      printEvent(ctx, { event: 'rejected', status: 401, reason: 'Missing X-Hub-Signature-256.' });
      printEvent(ctx, limited);
      vi.advanceTimersByTime(1000);
      expect(written).toEqual([
        `! 429 ${limited.reason}\n`,
        '! … and 499 more like it in that second\n',
        '! 401 Missing X-Hub-Signature-256.\n',
        `! 429 ${limited.reason}\n`,
      ]);
      for (let i = 0; i < 3; i += 1) printEvent(ctx, limited);
      vi.advanceTimersByTime(1000);
      expect(written.slice(4)).toEqual([`! 429 ${limited.reason}\n`, '! … and 2 more like it in that second\n']);
    } finally {
      vi.useRealTimers();
    }
  });
});
