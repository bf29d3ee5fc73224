import { accessSync, constants, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Context } from '../context.js';
import type { Options } from '../declare.js';
import { serviceDeps } from '../deps.js';
import { UsageError, type Outcome } from '../../errors.js';
import type { DoctorCheck } from '../../services/doctor.js';
import type { doctor } from './index.js';

const MINIMUM_NODE = '20.19.0';

export async function run(ctx: Context, options: Options<typeof doctor>): Promise<Outcome> {
  if (options.tunnel !== undefined && options.tunnel !== 'cloudflared' && options.tunnel !== 'ngrok') {
    throw new UsageError(`--tunnel must be cloudflared or ngrok; got "${options.tunnel}".`);
  }
  const { runDoctor } = await import('../../services/doctor.js');
  const { runningRelay } = await import('../../relay/state-file.js');
  const { graphServerDate } = await import('../../graph/clock.js');
  const { resolveGraphSettings } = await import('../../config/config.js');
  const relay = await runningRelay(join(ctx.paths.dataDir, 'relay.json'));
  const { baseUrl } = resolveGraphSettings(ctx.env, ctx.config());
  // Built when a number's checks need it: the database check comes first, and must look before anything migrates.
  let deps: ReturnType<typeof serviceDeps> | undefined;

  const report = await runDoctor(
    {
      secrets: (kind) => ctx.secrets(kind),
      graph: (token) => ctx.graph(token),
      graphFor: async (integration) => (await (deps ??= serviceDeps(ctx))).graphFor(integration),
      now: () => ctx.now(),
      env: ctx.env,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    },
    {
      nodeVersion: process.versions.node,
      minimumNode: MINIMUM_NODE,
      home: ctx.paths.dataDir,
      async writeProbe() {
        mkdirSync(ctx.paths.dataDir, { recursive: true, mode: 0o700 });
        const probe = join(ctx.paths.dataDir, `.doctor-${process.pid}`);
        writeFileSync(probe, 'ok', { mode: 0o600 });
        rmSync(probe, { force: true });
      },
      databaseStatus: async () => {
        const { databaseStatus } = await import('../../services/db.js');
        return databaseStatus({ databasePath: ctx.paths.database, databaseUrl: ctx.databaseUrl() });
      },
      openStore: () => ctx.store(),
      relay: relay ? { url: relay.url, publicUrl: relay.publicUrl, tunnel: relay.tunnel ?? null } : undefined,
      async healthz(url) {
        const response = await fetch(`${url.replace(/\/+$/, '')}/healthz`, { signal: AbortSignal.timeout(10_000) });
        return response.ok;
      },
      graphDate: () => graphServerDate(baseUrl),
      installed: (tool) => onPath(tool, ctx.env.PATH ?? ''),
      tunnel: options.tunnel,
    },
  );
  ctx.out.result(report, () => render(ctx, report.checks, report.ok));
  return report.ok ? 'ok' : 'failed';
}

function render(ctx: Context, checks: DoctorCheck[], ok: boolean): string[] {
  const s = ctx.out.style;
  const lines = checks.map((check) => {
    const mark = check.status === 'ok' ? s.green('✓') : check.status === 'fail' ? s.red('✗') : s.dim('-');
    const title = check.integration ? `${check.integration}: ${check.title}` : check.title;
    const line = `${mark} ${title}: ${check.detail}`;
    return check.fix ? `${line}\n    ${s.yellow('fix:')} ${check.fix}` : line;
  });
  const failed = checks.filter((c) => c.status === 'fail').length;
  lines.push('', ok ? s.green('Everything lumen needs is in place.') : s.red(`${failed} check${failed === 1 ? '' : 's'} failed.`));
  return lines;
}

function onPath(tool: string, path: string): boolean {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}
