import { readFileSync } from 'node:fs';
import { UserError } from '../errors.js';

/** Settings that may come from a flag, the environment, `config.json`, or a default — in that order. */
export interface ConfigFile {
  publicUrl?: string;
  graphUrl?: string;
  graphVersion?: string;
  relayHost?: string;
  relayPort?: number;
  /** How long the relay keeps messages, statuses and media: an age like "90d" (purged daily), or "off". */
  retention?: string;
  /** A postgres:// URL: keep the state on that server instead of LUMEN_HOME/lumen.db (LUMEN_DATABASE_URL wins). */
  databaseUrl?: string;
}

export const DEFAULT_GRAPH_URL = 'https://graph.facebook.com';
export const DEFAULT_GRAPH_VERSION = 'v25.0';

export function loadConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new UserError(`Cannot read the config file ${path}.`, { code: 'config_unreadable', cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UserError(`The config file ${path} is not valid JSON.`, {
      code: 'config_invalid',
      hint: 'Fix or delete it; lumen recreates what it needs.',
      cause: error,
    });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UserError(`The config file ${path} holds ${Array.isArray(parsed) ? 'a list' : parsed === null ? 'null' : `a ${typeof parsed}`}, not an object of settings.`, {
      code: 'config_invalid',
      hint: 'Fix or delete it; lumen recreates what it needs.',
    });
  }
  return parsed as ConfigFile;
}

/** flag > env > file > default. Empty strings count as unset. */
export function pickSetting<T>(...candidates: Array<T | undefined | null | ''>): T | undefined {
  for (const candidate of candidates) {
    if (candidate !== undefined && candidate !== null && candidate !== '') return candidate;
  }
  return undefined;
}

export interface GraphSettings {
  baseUrl: string;
  version: string;
}

export function resolveGraphSettings(env: NodeJS.ProcessEnv, file: ConfigFile): GraphSettings {
  // Each error names where the value came from: the variable, or config.json (the variable wins).
  const urlFrom = env.LUMEN_GRAPH_URL?.trim() ? 'LUMEN_GRAPH_URL' : '`graphUrl` in config.json';
  const versionFrom = env.LUMEN_GRAPH_VERSION?.trim() ? 'LUMEN_GRAPH_VERSION' : '`graphVersion` in config.json';
  // Spaces around a value are no part of it, and a blank one is unset, as with the variables.
  const trim = (value: unknown) => (typeof value === 'string' ? value.trim() : value);
  const baseUrl = String(pickSetting(env.LUMEN_GRAPH_URL?.trim(), trim(file.graphUrl), DEFAULT_GRAPH_URL)).replace(/\/+$/, '');
  const version = String(pickSetting(env.LUMEN_GRAPH_VERSION?.trim(), trim(file.graphVersion), DEFAULT_GRAPH_VERSION));
  if (!/^https?:\/\/[^\s/]+/.test(baseUrl)) {
    throw new UserError(`${urlFrom} is not an http(s) URL: ${baseUrl}`, { code: 'config_invalid', kind: 'usage' });
  }
  if (!/^v\d+\.\d+$/.test(version)) {
    throw new UserError(`${versionFrom} must look like v25.0, got "${version}".`, {
      code: 'config_invalid',
      kind: 'usage',
    });
  }
  return { baseUrl, version };
}
