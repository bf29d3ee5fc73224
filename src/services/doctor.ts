import { UserError } from '../errors.js';
import { GraphError } from '../graph/errors.js';
import { getPhoneHealth } from '../graph/phone-numbers.js';
import { debugToken } from '../graph/webhooks.js';
import { readIntegrationSecrets } from '../secrets/integration.js';
import type { Integration, Store } from '../store/types.js';
import type { DatabaseStatus } from './db.js';
import type { ServiceDeps } from './deps.js';
import { readWebhookState } from './whatsapp/webhook.js';
import { utcText } from '../text.js';

/** One line of `lumen doctor`: what was checked, how it went, and what to do about it. */
export interface DoctorCheck {
  id: string;
  /** The number it is about (its label), for per-number checks. */
  integration?: string;
  title: string;
  status: 'ok' | 'fail' | 'skip';
  detail: string;
  fix: string | null;
}

export interface DoctorReport {
  ok: boolean;
  checks: DoctorCheck[];
}

/** What only the caller knows or can reach: the runtime, the home's files, the running relay and the network. */
export interface DoctorInputs {
  nodeVersion: string;
  minimumNode: string;
  home: string;
  /** Writes and removes a file in LUMEN_HOME; throws when it cannot. */
  writeProbe(): Promise<void>;
  /** Which database, where, its schema version and what is pending (a look only: nothing migrated). */
  databaseStatus(): Promise<DatabaseStatus>;
  openStore(): Promise<Store>;
  /** The relay running for this LUMEN_HOME, if any. */
  relay: { url: string; publicUrl: string | null; tunnel: string | null } | undefined;
  /** GET `<url>/healthz` answers 2xx. */
  healthz(url: string): Promise<boolean>;
  /** The Graph API's clock (its Date header). */
  graphDate(): Promise<Date | null>;
  /** Whether a command is on PATH. */
  installed(tool: string): boolean;
  /** A tunnel tool to check even when no relay runs (`--tunnel`). */
  tunnel?: string | undefined;
}

const SCOPES = ['whatsapp_business_messaging', 'whatsapp_business_management'];
const TEMPLATES_STALE_MS = 7 * 24 * 3600 * 1000;
const CLOCK_SKEW_MS = 60_000;

/** Runs every check; none throws: a failure is a failed check with its fix, and the next check still runs. */
export async function runDoctor(deps: Omit<ServiceDeps, 'store'>, inputs: DoctorInputs): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const add = (check: DoctorCheck) => checks.push(check);

  add(
    versionAtLeast(inputs.nodeVersion, inputs.minimumNode)
      ? ok('node', 'Node.js', `v${inputs.nodeVersion}`)
      : fail('node', 'Node.js', `v${inputs.nodeVersion} is older than ${inputs.minimumNode}`, `Install Node.js ${inputs.minimumNode} or newer.`),
  );

  add(
    await attempt(
      'home',
      'LUMEN_HOME writable',
      async () => {
        await inputs.writeProbe();
        return inputs.home;
      },
      () => `Make ${inputs.home} writable by this user, or point LUMEN_HOME at a folder that is.`,
    ),
  );

  let store: Store | undefined;
  add(
    await attempt(
      'database',
      'Database',
      async () => {
        const status = await inputs.databaseStatus();
        const schema = `schema ${status.version} of ${status.latest}`;
        if (status.backend === 'postgres' && status.pending.length > 0) {
          // Shared by every host: migrated on purpose (`lumen db migrate`), not as a side effect of a check.
          throw new UserError(`PostgreSQL at ${status.where}: reachable, ${schema}, ${status.pending.length} migration${status.pending.length === 1 ? '' : 's'} pending`, {
            code: 'database_pending_migrations',
            hint: 'Run `lumen db migrate` (once: it migrates the database for every host).',
          });
        }
        store = await inputs.openStore();
        const result = await store.quickCheck();
        if (result !== 'ok') throw new Error(`integrity check: ${result}`);
        if (status.backend === 'postgres') return `PostgreSQL at ${status.where}: reachable, ${schema} (current)`;
        const migrated = status.pending.length > 0 ? `, migrated from ${status.version} now` : '';
        return `SQLite ${status.where}: opens, schema ${status.latest} (current)${migrated}, quick integrity check ok`;
      },
      (error) =>
        error instanceof UserError && error.hint && error.code.startsWith('database_')
          ? error.hint
          : 'Restore lumen.db from a backup, or move it aside to start afresh (stored messages are in it).',
    ),
  );

  add(
    await attempt(
      'secrets',
      'Secret store',
      async () => {
        const secrets = await deps.secrets();
        await secrets.get('doctor/probe');
        // An encrypted file answers with any passphrase: only what is stored in it tells a wrong one.
        const first = store ? (await store.integrations.listAll())[0] : undefined;
        if (first) {
          await readIntegrationSecrets(deps, first).catch((error: unknown) => {
            if (error instanceof UserError && error.code === 'secrets_unreadable') throw error;
          });
        }
        return `answers (${secrets.description})`;
      },
      // The store's own hint where it has one (a database store's missing LUMEN_MASTER_KEY, or another key id).
      (error) =>
        error instanceof UserError && error.hint ? error.hint : 'Unlock the keychain (or set LUMEN_SECRET_STORE=file with LUMEN_MASTER_KEY).',
    ),
  );

  add(
    await attempt(
      'clock',
      'Clock',
      async () => {
        const remote = await inputs.graphDate();
        if (!remote) return 'the Graph API sent no Date header; not compared';
        const skew = deps.now().getTime() - remote.getTime();
        if (Math.abs(skew) > CLOCK_SKEW_MS) {
          throw new UserError(`local clock is ${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'ahead of' : 'behind'} the Graph API's`, {
            code: 'clock_skew',
          });
        }
        return `within ${Math.max(1, Math.round(Math.abs(skew) / 1000))} s of the Graph API's`;
      },
      (error) =>
        error instanceof UserError && error.code === 'clock_skew'
          ? 'Turn on time synchronisation (timedatectl set-ntp true, or your OS settings).'
          : 'Check the network, or LUMEN_GRAPH_URL.',
    ),
  );

  const integrations = store ? await store.integrations.listAll() : [];
  if (store && integrations.length === 0) {
    add(fail('connected', 'Connected numbers', 'none', 'Run `lumen whatsapp connect` (or try it with `lumen sandbox start`).'));
  }
  for (const integration of integrations) {
    for (const check of await integrationChecks({ ...deps, store: store! }, integration, inputs)) add(check);
  }

  const relay = inputs.relay;
  if (!relay && store?.backend === 'postgres') {
    // A host that only runs commands is normal with a shared database: the relays are elsewhere.
    add(skip('relay', 'Relay', 'none on this host (relays on other hosts share this PostgreSQL database: check their /readyz)'));
  } else if (!relay) {
    add(fail('relay', 'Relay', 'not running for this LUMEN_HOME', 'Start it: `lumen relay start --public-url https://…` (or --tunnel cloudflared).'));
  } else if (!relay.publicUrl) {
    add(fail('relay', 'Relay', `running on ${relay.url}, but with no public URL: Meta cannot reach it`, 'Restart it with --public-url https://… or --tunnel cloudflared.'));
  } else {
    const reachable = await inputs.healthz(relay.publicUrl).catch(() => false);
    add(
      reachable
        ? ok('relay', 'Relay', `running on ${relay.url}, reachable through ${relay.publicUrl}`)
        : fail('relay', 'Relay', `running on ${relay.url}, but ${relay.publicUrl}/healthz does not answer`, 'Is the tunnel up, and does it point at the relay\'s port?'),
    );
  }

  const tool = relay?.tunnel ?? inputs.tunnel;
  add(
    !tool
      ? skip('tunnel', 'Tunnel tool', 'no tunnel configured')
      : inputs.installed(tool)
        ? ok('tunnel', 'Tunnel tool', `${tool} installed`)
        : fail('tunnel', 'Tunnel tool', `${tool} is not on PATH`, tool === 'ngrok' ? 'Install ngrok: https://ngrok.com/download' : 'Install cloudflared: https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/downloads/'),
  );

  return { ok: checks.every((c) => c.status !== 'fail'), checks };
}

async function integrationChecks(deps: ServiceDeps, integration: Integration, inputs: DoctorInputs): Promise<DoctorCheck[]> {
  const label = integration.label;
  const about = (check: DoctorCheck): DoctorCheck => ({ ...check, integration: label });
  const checks: DoctorCheck[] = [];
  // With the number's ids: `connect --yes` alone asks for them, and fails where nobody can answer (a script, CI).
  const connect = `lumen whatsapp connect --phone-number-id ${integration.phoneNumberId} --waba-id ${integration.wabaId} --yes`;
  const reconnect = `Connect the number again with a permanent System User token: \`${connect}\`.`;
  // A secret store that cannot be read is not fixed by a new token: its own hint says what is.
  const unreadable = (error: unknown) => (error instanceof UserError && error.code === 'secrets_unreadable' ? error.hint : undefined);

  checks.push(
    about(
      await attempt(
        'token',
        'Access token',
        async () => {
          const graph = await deps.graphFor(integration);
          const { accessToken } = await readIntegrationSecrets(deps, integration);
          const info = await debugToken(graph, accessToken);
          if (!info.valid) throw new UserError('Meta says the token is not valid (expired or revoked)', { code: 'token_invalid' });
          const missing = SCOPES.filter((s) => !info.scopes.includes(s));
          if (missing.length > 0) throw new UserError(`the token lacks ${missing.join(' and ')}`, { code: 'token_scopes' });
          const expiry = info.expiresAt ? `expires ${new Date(info.expiresAt * 1000).toISOString()}` : 'never expires';
          return `valid${info.type ? ` (${info.type})` : ''}, ${expiry}, both WhatsApp scopes`;
        },
        (error) =>
          error instanceof UserError && error.code === 'token_scopes'
            ? 'Generate the System User token again with whatsapp_business_messaging and whatsapp_business_management.'
            : (unreadable(error) ?? reconnect),
      ),
    ),
  );

  checks.push(
    about(
      await attempt(
        'number',
        'Phone number',
        async () => {
          const phone = await getPhoneHealth(await deps.graphFor(integration), integration.phoneNumberId);
          const parts = [
            `status ${phone.status ?? 'unknown'}`,
            `quality ${phone.quality_rating ?? 'unknown'}`,
            `throughput ${phone.throughput?.level ?? 'unknown'}`,
            `messaging limit ${phone.messaging_limit_tier ?? 'unknown'}`,
          ].join(', ');
          if (phone.status && phone.status !== 'CONNECTED') {
            throw new UserError(`${parts}: the number is not connected`, { code: 'number_status' });
          }
          if (phone.quality_rating === 'RED') throw new UserError(`${parts}: low quality`, { code: 'number_quality' });
          return parts;
        },
        (error) =>
          error instanceof UserError && error.code === 'number_quality'
            ? 'Quality is low: send fewer marketing messages and only to people who asked; see WhatsApp Manager → Insights.'
            : error instanceof UserError && error.code === 'number_status'
              ? 'See WhatsApp Manager → Phone numbers for what Meta requires (verification, a display name, a restriction).'
              : (unreadable(error) ?? reconnect),
      ),
    ),
  );

  const publicUrl = inputs.relay?.publicUrl ?? integration.publicUrl;
  let readBack: Awaited<ReturnType<typeof readWebhookState>> | undefined;
  let readError: unknown;
  try {
    readBack = await readWebhookState(deps, integration, publicUrl, inputs.relay?.publicUrl ? 'running_relay' : 'registered');
  } catch (error) {
    readError = error;
  }
  if (!readBack) {
    const message = failureMessage(readError);
    checks.push(about(fail('subscription', 'App subscribed to the WABA', message, reconnect)));
    checks.push(about(fail('callback', "Meta's Callback URL", message, reconnect)));
  } else {
    checks.push(
      about(
        readBack.appSubscribed === false
          ? fail('subscription', 'App subscribed to the WABA', `app ${readBack.appId} is not subscribed to WABA ${integration.wabaId}${readBack.subscribedAppIds.length > 0 ? ` (only ${readBack.subscribedAppIds.join(', ')})` : ''}: messages will not arrive`, `Run \`${connect}\` (without --no-subscribe).`)
          : readBack.appSubscribed === null
            ? (readBack.subscribedAppIds.length > 0
                ? ok('subscription', 'App subscribed to the WABA', `apps ${readBack.subscribedAppIds.join(', ')} subscribed (the token's app could not be told)`)
                : fail('subscription', 'App subscribed to the WABA', 'no app is subscribed: messages will not arrive', `Run \`${connect}\` (without --no-subscribe).`))
            : ok('subscription', 'App subscribed to the WABA', `app ${readBack.appId} subscribed to WABA ${integration.wabaId}`),
      ),
    );
    const restart = 'Restart the relay with --public-url (or --tunnel): it registers its Callback URL with Meta.';
    checks.push(
      about(
        readBack.expectedUrl === null
          ? fail('callback', "Meta's Callback URL", `${readBack.callbackUrl ?? 'none set'}; lumen knows no public URL to compare it with`, restart)
          : readBack.pointsHere
            ? ok('callback', "Meta's Callback URL", `${readBack.callbackUrl} (${readBack.expectedFrom === 'running_relay' ? 'this relay' : "lumen's registered URL"})`)
            : fail(
                'callback',
                "Meta's Callback URL",
                readBack.callbackUrl === null
                  ? `none set: deliveries go nowhere (lumen expects ${readBack.expectedUrl})`
                  : `Meta delivers to ${readBack.callbackUrl}, not to ${readBack.expectedUrl}: deliveries go somewhere else`,
                restart,
              ),
      ),
    );
  }

  const synced = integration.templatesSyncedAt ? Date.parse(integration.templatesSyncedAt) : NaN;
  const age = deps.now().getTime() - synced;
  checks.push(
    about(
      Number.isFinite(synced) && age <= TEMPLATES_STALE_MS
        ? ok('templates', 'Templates synced', `${utcText(integration.templatesSyncedAt)} (${Math.max(0, Math.round(age / 3600_000))} h ago)`)
        : fail('templates', 'Templates synced', integration.templatesSyncedAt ? `last ${utcText(integration.templatesSyncedAt)}, over 7 days ago` : 'never', 'Run `lumen templates sync`.'),
    ),
  );
  return checks;
}

function ok(id: string, title: string, detail: string): DoctorCheck {
  return { id, title, status: 'ok', detail, fix: null };
}

function fail(id: string, title: string, detail: string, fix: string): DoctorCheck {
  return { id, title, status: 'fail', detail, fix };
}

function skip(id: string, title: string, detail: string): DoctorCheck {
  return { id, title, status: 'skip', detail, fix: null };
}

async function attempt(id: string, title: string, work: () => Promise<string>, fix: (error: unknown) => string): Promise<DoctorCheck> {
  try {
    return ok(id, title, await work());
  } catch (error) {
    return fail(id, title, failureMessage(error), fix(error));
  }
}

function failureMessage(error: unknown): string {
  if (error instanceof GraphError) return `Meta answered ${error.code ?? error.status}: ${error.message}`;
  if (error instanceof Error) return error.message.split('\n', 1)[0]!;
  return String(error);
}

function versionAtLeast(version: string, minimum: string): boolean {
  const a = version.split('.').map(Number);
  const b = minimum.split('.').map(Number);
  for (let i = 0; i < 3; i += 1) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}
