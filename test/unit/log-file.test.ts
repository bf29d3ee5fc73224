import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLogFile } from '../../src/cli/log-file.js';
import { makeHome, type LumenHome } from '../helpers/home.js';

let home: LumenHome;
beforeEach(() => {
  home = makeHome();
});
afterEach(() => home.cleanup());

describe('relay start --log-file', () => {
  it('a path it cannot write is one usage error in words, never an errno', () => {
    writeFileSync(home.path('a-file'), '');
    expect(() => openLogFile(home.path('a-file', 'relay.log'))).toThrow(/^--log-file .*relay\.log: cannot write it \(a part of its path is a file, not a folder\)\.$/);
    expect(() => openLogFile(home.dir)).toThrow(/: cannot write it \(it is a folder, not a file\)\.$/);
  });

  it.skipIf(!existsSync('/proc/self'))('a folder under /proc is refused at once (recursive mkdir would spin there for ever)', () => {
    expect(() => openLogFile('/proc/nope/deeper/relay.log')).toThrow(/^--log-file \/proc\/nope\/deeper\/relay\.log: cannot write it \(.+\)\.$/);
  });

  it('creates missing folders, owner-only', () => {
    const log = openLogFile(home.path('logs', 'relay', 'relay.log'));
    log.close();
    expect(statSync(home.path('logs', 'relay')).mode & 0o777).toBe(0o700);
    expect(statSync(home.path('logs')).mode & 0o777).toBe(0o700);
  });

  it('appends whole lines, renames the file at its size limit and keeps only the newest files', () => {
    const path = home.path('logs', 'relay.log');
    const log = openLogFile(path, { maxBytes: 1000, keep: 3, stamp: () => '2026-12-01T00:00:00.000Z' });
    // 100 lines of 60 bytes with their stamp: six rotations' worth
    for (let i = 0; i < 100; i += 1) log.stream.write(`line ${String(i).padStart(3, '0')} ${'x'.repeat(26)}\n`);
    log.close();

    expect(existsSync(`${path}.1`)).toBe(true);
    expect(existsSync(`${path}.3`)).toBe(true);
    expect(existsSync(`${path}.4`)).toBe(false);
    for (const file of [path, `${path}.1`, `${path}.2`, `${path}.3`]) expect(statSync(file).size).toBeLessThanOrEqual(1000);
    // Every line whole, stamped, in order across the files (oldest in .3); the newest line is in the file itself
    const text = [`${path}.3`, `${path}.2`, `${path}.1`, path].map((f) => readFileSync(f, 'utf8')).join('');
    const lines = text.trim().split('\n');
    for (const line of lines) expect(line).toMatch(/^2026-12-01T00:00:00\.000Z line \d{3} x{26}$/);
    const numbers = lines.map((l) => Number(/line (\d+)/.exec(l)![1]));
    expect(numbers).toEqual(numbers.slice().sort((a, b) => a - b));
    expect(numbers.at(-1)).toBe(99);
    expect(readFileSync(path, 'utf8')).toContain('line 099');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    // Its missing folder was created, owner-only like the file
    expect(statSync(home.path('logs')).mode & 0o777).toBe(0o700);
  });

  it('continues an existing file after a restart', () => {
    const path = home.path('relay.log');
    const first = openLogFile(path, { maxBytes: 10_000 });
    first.stream.write('one\n');
    first.close();
    const second = openLogFile(path, { maxBytes: 10_000 });
    second.stream.write('two\n');
    second.close();
    expect(readFileSync(path, 'utf8')).toBe('one\ntwo\n');
  });
});
