import { describe, expect, it } from 'vitest';
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
    expect(printable('Zoë 👋 مرحبا')).toBe('Zoë 👋 مرحبا');
    const [, row] = table(['name'], [['Ev\u001b[2Jil']], { width: 0 });
    expect(row).toBe('Ev\\u001b[2Jil');
  });
});
