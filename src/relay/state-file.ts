import { readFileSync, rmSync, writeFileSync } from 'node:fs';

/** `relay.json` in LUMEN_HOME: where the running relay listens, for `lumen relay status` and `lumen trigger`. */
export interface RelayState {
  pid: number;
  url: string;
  publicUrl: string | null;
  /** The tunnel tool the relay started (`--tunnel`), if any. */
  tunnel?: string | null;
  /** The local API for the user's code (loopback, this port), when the relay offers it. */
  localApiUrl?: string | null;
  /** What this relay's `GET /healthz` names (absent in a file from an older lumen). */
  instance?: string;
  startedAt: string;
}

export function readRelayState(path: string): RelayState | undefined {
  try {
    const state = JSON.parse(readFileSync(path, 'utf8')) as RelayState;
    return typeof state.pid === 'number' && typeof state.url === 'string' ? state : undefined;
  } catch {
    return undefined;
  }
}

export function writeRelayState(path: string, state: RelayState): void {
  writeFileSync(path, JSON.stringify(state), { mode: 0o600 });
}

/** Removes the file only if it still describes this process (another relay may have written it since). */
export function removeRelayState(path: string, pid = process.pid): void {
  if (readRelayState(path)?.pid === pid) rmSync(path, { force: true });
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The relay the state file names, if that process is alive and answers its health check. */
export async function runningRelay(path: string): Promise<RelayState | undefined> {
  const state = readRelayState(path);
  if (!state || state.pid === process.pid || !processAlive(state.pid)) return undefined;
  try {
    const response = await fetch(`${state.url}/healthz`, { signal: AbortSignal.timeout(2000) });
    if (!response.ok) return undefined;
    // The relay that wrote the file, not whatever answers at its address now (its pid may be another process's).
    if (state.instance === undefined) return state;
    const body = (await response.json().catch(() => undefined)) as { instance?: unknown } | undefined;
    return body?.instance === state.instance ? state : undefined;
  } catch {
    return undefined;
  }
}
