import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfigFile, pickSetting, resolveGraphSettings } from '../../src/config/config.js';
import { resolvePaths } from '../../src/config/paths.js';
import { makeHome } from '../helpers/home.js';

describe('config precedence', () => {
  it('takes flag over env over file over default, skipping empty values', () => {
    expect(pickSetting('flag', 'env', 'file', 'default')).toBe('flag');
    expect(pickSetting(undefined, 'env', 'file', 'default')).toBe('env');
    expect(pickSetting(undefined, '', 'file', 'default')).toBe('file');
    expect(pickSetting(undefined, undefined, undefined, 'default')).toBe('default');
  });

  it('resolves the Graph URL and version: env over config file over defaults', () => {
    expect(resolveGraphSettings({}, {})).toEqual({ baseUrl: 'https://graph.facebook.com', version: 'v25.0' });
    expect(resolveGraphSettings({}, { graphUrl: 'http://127.0.0.1:9/', graphVersion: 'v24.0' })).toEqual({
      baseUrl: 'http://127.0.0.1:9',
      version: 'v24.0',
    });
    expect(
      resolveGraphSettings({ LUMEN_GRAPH_URL: 'http://localhost:1', LUMEN_GRAPH_VERSION: 'v25.0' }, { graphVersion: 'v24.0' }),
    ).toEqual({ baseUrl: 'http://localhost:1', version: 'v25.0' });
    // Spaces in config.json are trimmed as in the variables; a blank value is unset
    expect(resolveGraphSettings({}, { graphUrl: ' http://127.0.0.1:9 ', graphVersion: ' v24.0 ' })).toEqual({ baseUrl: 'http://127.0.0.1:9', version: 'v24.0' });
    expect(resolveGraphSettings({}, { graphUrl: '   ', graphVersion: '' })).toEqual({ baseUrl: 'https://graph.facebook.com', version: 'v25.0' });
  });

  it('rejects a malformed version or URL with a clear error', () => {
    expect(() => resolveGraphSettings({ LUMEN_GRAPH_VERSION: '23' }, {})).toThrow(/must look like v25.0/);
    expect(() => resolveGraphSettings({ LUMEN_GRAPH_URL: 'graph.facebook.com' }, {})).toThrow(/^LUMEN_GRAPH_URL is not an http/);
    // A bad value in config.json is blamed on the file, whatever its type
    expect(() => resolveGraphSettings({}, { graphUrl: 'ftp://x' })).toThrow(/^`graphUrl` in config.json is not an http\(s\) URL: ftp:\/\/x$/);
    expect(() => resolveGraphSettings({}, { graphUrl: 42 as unknown as string })).toThrow(/^`graphUrl` in config.json is not an http/);
    expect(() => resolveGraphSettings({}, { graphVersion: '24' })).toThrow(/^`graphVersion` in config.json must look like v25.0/);
  });

  it('reads config.json, treats a missing file as empty and a broken one as an error', () => {
    const home = makeHome();
    try {
      expect(loadConfigFile(home.path('missing.json'))).toEqual({});
      writeFileSync(home.path('ok.json'), '{"publicUrl":"https://x.example"}');
      expect(loadConfigFile(home.path('ok.json'))).toEqual({ publicUrl: 'https://x.example' });
      writeFileSync(home.path('bad.json'), '{');
      expect(() => loadConfigFile(home.path('bad.json'))).toThrow(/not valid JSON/);
    } finally {
      home.cleanup();
    }
  });
});

describe('paths', () => {
  it('puts everything under LUMEN_HOME when set', () => {
    const paths = resolvePaths({ LUMEN_HOME: '/tmp/lh' });
    expect(paths.database).toBe('/tmp/lh/lumen.db');
    expect(paths.configFile).toBe('/tmp/lh/config.json');
    expect(paths.secretsFile).toBe('/tmp/lh/secrets.enc.json');
  });

  it('follows the XDG base directories otherwise', () => {
    const paths = resolvePaths({ HOME: '/home/u', XDG_DATA_HOME: '/d', XDG_CONFIG_HOME: '' });
    expect(paths.database).toBe('/d/lumen/lumen.db');
    expect(paths.configFile).toBe('/home/u/.config/lumen/config.json');
  });
});
