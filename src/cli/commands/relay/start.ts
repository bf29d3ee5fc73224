import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { UsageError, UserError } from '../../../errors.js';
import { parsePort } from '../../flag-values.js';
import { printable, truncate } from '../../table.js';
import { listenError, waitForShutdownSignal } from '../../serve.js';
import type { RelayEvent } from '../../../relay/events.js';
import type { TunnelProvider } from '../../../relay/tunnel.js';
import { checkPublicUrl, ensureValid } from '../../../services/whatsapp/validate.js';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { Output } from '../../output.js';
import { retentionSetting } from '../../../services/maintenance/retention.js';
import type { start } from './index.js';

/** With --quiet only these are printed: where the relay is, problems, and shutdown. */
const QUIET_EVENTS = new Set<RelayEvent['event']>(['listening', 'tunnel', 'callback_url', 'registration', 'webhook_error', 'error', 'stopping', 'stopped']);

export async function run(ctx: Context, options: Options<typeof start>): Promise<void> {
  const port = parsePort(options.port);
  const publicUrl = options.publicUrl ?? ctx.config().publicUrl;
  if (publicUrl !== undefined) ensureValid(checkPublicUrl(publicUrl));
  if (options.tunnel !== undefined && options.tunnel !== 'cloudflared' && options.tunnel !== 'ngrok') {
    throw new UsageError(`--tunnel must be cloudflared or ngrok; got "${options.tunnel}".`);
  }
  if (options.tunnel && options.publicUrl) throw new UsageError('Choose --tunnel or --public-url, not both.');
  if (options.forwardTo) ensureValid(checkForwardUrl(options.forwardTo));
  if (options.callbackScope !== 'phone' && options.callbackScope !== 'waba') {
    throw new UsageError(`--callback-scope must be phone or waba; got "${options.callbackScope}".`);
  }
  const perIntegration = parseRate(options.rateLimit, '--rate-limit');
  const perWorkspace = parseRate(options.workspaceRateLimit, '--workspace-rate-limit');
  const mediaMaxBytes = Number(options.mediaMaxBytes);
  if (!/^\d+$/.test(options.mediaMaxBytes.trim()) || !Number.isSafeInteger(mediaMaxBytes) || mediaMaxBytes < 1) {
    throw new UsageError(`--media-max-bytes must be a whole number of bytes; got "${options.mediaMaxBytes}".`);
  }

  const logMaxBytes = Number(options.logMaxBytes);
  if (!/^\d+$/.test(options.logMaxBytes.trim()) || !Number.isSafeInteger(logMaxBytes) || logMaxBytes < 1024) {
    throw new UsageError(`--log-max-bytes must be a whole number of bytes, at least 1024; got "${options.logMaxBytes}".`);
  }
  for (const address of options.metricsHost ?? []) {
    if (address !== 'any' && isIP(address) === 0) {
      throw new UsageError(`--metrics-host takes client IP addresses or \`any\`; got "${address}".`);
    }
  }
  for (const proxy of options.trustProxy ?? []) {
    const [address = '', bits, ...rest] = proxy.split('/');
    const family = isIP(address);
    const width = family === 4 ? 32 : 128;
    if (family === 0 || rest.length > 0 || (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > width))) {
      throw new UsageError(`--trust-proxy takes a proxy's IP address or a subnet like 10.0.0.0/8; got "${proxy}".`);
    }
  }
  const retentionMs = retentionSetting(ctx.config().retention);
  const { parseEventGroups } = await import('../../../relay/documents.js');
  const events = parseEventGroups(options.events);
  if (events.unknown.length > 0 || events.groups.size === 0) {
    throw new UsageError(
      `--events takes messages, statuses, templates, account, preferences, echoes, edits or all; got "${options.events}".`,
    );
  }
  if (options.forwardRaw && !options.forwardTo && !options.exec) {
    throw new UsageError("--forward-raw hands Meta's deliveries to your code: add --forward-to URL (or --exec CMD).");
  }
  if (options.exec !== undefined && options.exec.trim() === '') {
    throw new UsageError('--exec "" would run nothing: give the command that handles each message (e.g. --exec "node bot.mjs").');
  }
  if (typeof options.autoReply === 'string' && options.autoReply.trim() === '') {
    throw new UsageError('--auto-reply "" would reply with nothing: give the text, or --auto-reply alone to reply with what --exec prints.');
  }
  if (!options.forwardTo && !options.exec && options.events !== 'messages') {
    throw new UsageError('--events chooses what your code gets: add --forward-to URL or --exec CMD.');
  }

  const stateFile = join(ctx.paths.dataDir, 'relay.json');
  const { runningRelay } = await import('../../../relay/state-file.js');
  const other = await runningRelay(stateFile);
  if (other) {
    // Two relays on one LUMEN_HOME would both work the same delivery queue and hand messages on twice. This names
    // the running one's URL; the database's relay lease (taken in startRelay) is what makes the refusal certain.
    throw new UserError(`A relay is already running for this LUMEN_HOME (pid ${other.pid} on ${other.url}).`, {
      code: 'relay_running',
      hint: 'Stop it first with `lumen relay stop` (or Ctrl-C in its terminal), or use another LUMEN_HOME.',
    });
  }
  const store = await ctx.store({ checkpointInBackground: true });
  if ((await store.integrations.listAll()).length === 0) {
    throw new UserError('No WhatsApp number is connected: the relay would have nothing to receive.', {
      code: 'not_connected',
      hint: 'Run `lumen whatsapp connect` first (or `lumen sandbox start` to try it without Meta).',
    });
  }

  // --log-file: everything the relay says goes to the file (human lines with their time), rotated by size.
  let out = ctx.out;
  let closeLog = () => {};
  if (options.logFile !== undefined) {
    const { openLogFile } = await import('../../log-file.js');
    const log = openLogFile(options.logFile, {
      maxBytes: logMaxBytes,
      ...(ctx.globals.json ? {} : { stamp: () => ctx.now().toISOString() }),
    });
    closeLog = log.close;
    out = new Output({ json: ctx.globals.json, debug: ctx.globals.debug, env: ctx.env, stdout: log.stream, stderr: log.stream });
  }
  const show = ctx.globals.json ? (event: RelayEvent) => out.event(event) : (event: RelayEvent) => printEvent(ctx, event, out);
  const visible = options.quiet ? (event: RelayEvent) => QUIET_EVENTS.has(event.event) && show(event) : show;
  // The first line is always `listening` (scripts wait for it): anything reported while starting comes after it.
  const early: RelayEvent[] = [];
  let started = false;
  const print = (event: RelayEvent) => {
    if (started || event.event === 'listening') visible(event);
    else early.push(event);
  };
  print.wants = (name: RelayEvent['event']) => !options.quiet || QUIET_EVENTS.has(name);
  const { startRelay, callbackUrls } = await import('../../../relay/server.js');
  const relay = await startRelay(
    { store, secrets: (kind) => ctx.secrets(kind), graph: (token) => ctx.graph(token), now: () => ctx.now(), env: ctx.env, onEvent: print },
    {
      host: options.host,
      port,
      publicUrl,
      tunnel: options.tunnel as TunnelProvider | undefined,
      forwardTo: options.forwardTo,
      exec: options.exec,
      autoReply: options.autoReply,
      limits: { perIntegration, perWorkspace },
      trustProxy: options.trustProxy,
      stateFile,
      mediaDir: join(ctx.paths.dataDir, 'media'),
      mediaMaxBytes,
      markRead: options.markRead,
      typing: options.typing,
      metricsClients: options.metricsHost ?? [],
      retentionMs,
      events: events.groups,
      forwardRaw: options.forwardRaw,
    },
  ).catch((error: unknown) => {
    closeLog();
    throw listenError(error, options.host, port);
  });
  // From here a signal stops the relay cleanly, registration under way included.
  const stopSignal = waitForShutdownSignal();
  print({ event: 'listening', url: relay.url });
  started = true;
  for (const event of early.splice(0)) visible(event);
  if (relay.tunnel) print({ event: 'tunnel', provider: relay.tunnel.provider, url: relay.tunnel.url });
  for (const callback of callbackUrls(relay)) print(callback);
  // Meta runs the handshake against the relay during this call: it is listening already.
  const registrations = options.register ? await relay.register(options.callbackScope as 'phone' | 'waba') : [];
  if (!ctx.globals.json) banner(out, relay, options.logFile !== undefined, registrations.length > 0 && registrations.every((r) => r.ok));

  let overtaken = false;
  try {
    const signal = await Promise.race([stopSignal, relay.leaseLost.then(() => undefined)]);
    if (signal === undefined) {
      overtaken = true;
      print({ event: 'error', message: 'Another relay took this LUMEN_HOME over while this one stalled: this one stops.' });
    }
    print({ event: 'stopping', signal: signal ?? 'lease_lost' });
    await relay.close();
    print({ event: 'stopped' });
  } finally {
    stopSignal.dispose();
  }
  closeLog();
  if (overtaken) {
    throw new UserError('Another relay runs for this LUMEN_HOME now; this one stopped.', {
      code: 'relay_running',
      hint: 'Run one relay per LUMEN_HOME (`lumen relay status` shows which).',
    });
  }
}

/** With a log file the secrets are not written into it: a log is copied and read by more people than a terminal. */
function banner(
  out: Output,
  relay: {
    url: string;
    publicUrl: string | null;
    signingSecret: string | null;
    localApi: { url: string; key: string } | null;
    console: { url: string } | null;
    integrations: Array<{ id: string; label: string }>;
  },
  toLogFile = false,
  registered = false,
): void {
  const s = out.style;
  const secret = (value: string) =>
    toLogFile ? `${value.slice(0, value.indexOf('_') + 1)}… (not written to the log file; \`lumen relay start\` in a terminal shows it)` : s.bold(value);
  for (const integration of relay.integrations) {
    if (!relay.publicUrl) out.print(`  ${integration.label}: ${relay.url}/webhooks/whatsapp/${integration.id}`);
  }
  if (relay.publicUrl && !registered) {
    out.print(`Paste the Callback URL above into Meta's App Dashboard → WhatsApp → Configuration, with the verify`);
    out.print('token `lumen whatsapp connect` printed (lost it? `lumen whatsapp rotate-token`), then "Verify and save".');
  } else if (!relay.publicUrl) {
    out.print(s.dim('Local only: put it behind a tunnel (--tunnel cloudflared, or your own with --public-url) for Meta to reach it.'));
  }
  if (relay.signingSecret) {
    out.print(`Forwarded deliveries are signed with ${secret(relay.signingSecret)} (header Lumen-Signature).`);
  }
  if (relay.localApi) {
    out.print(`Local API for your code: ${s.bold(relay.localApi.url)}/v1 with Authorization: Bearer ${secret(relay.localApi.key)}`);
  }
  if (relay.console) {
    // The token is the secret part: a log file gets the address and `lumen console` for the rest.
    out.print(
      toLogFile
        ? `Console: ${relay.console.url.split('?')[0]} (its token is not written to the log file; \`lumen console\` prints the whole URL)`
        : `Console: ${s.bold(relay.console.url)}`,
    );
  }
  out.print(s.dim('Ready. Ctrl-C stops the relay (deliveries in flight are finished first).'));
}

async function statusLine(ctx: Context, event: Extract<RelayEvent, { event: 'status' }>): Promise<string> {
  const error = event.errorCode ? ` (error ${event.errorCode})` : '';
  const sent = await (await ctx.store()).outbound.findByWamid(event.wamid).catch(() => undefined);
  if (sent) return `· ${event.status} ${sent.id} to ${displaySender(sent.recipient)}${error}`;
  return `· ${event.status} ${truncate(event.wamid, 24)}${event.recipient ? ` to ${displaySender(event.recipient)}` : ''}${error}`;
}

/** One line per relay event, to `out`: the terminal, or the log file (and `events tail` follows them). */
/** The refusal last printed on each output, and how many alike came within a second of it (not printed). */
const folds = new WeakMap<Output, { key: string; until: number; more: number; timer: NodeJS.Timeout }>();

/**
 * A refusal line, but one a second of a kind: a flood (429s past --rate-limit, an unsigned flood at the URL) would
 * print thousands of lines a second and push everything else off the terminal. The others are counted, and said.
 */
function printRejected(out: Output, line: string, key: string): void {
  const now = Date.now();
  const fold = folds.get(out);
  if (fold && fold.key === key && now < fold.until) {
    fold.more += 1;
    return;
  }
  flushRejected(out);
  out.print(line);
  const timer = setTimeout(() => flushRejected(out), 1000);
  timer.unref();
  folds.set(out, { key, until: now + 1000, more: 0, timer });
}

function flushRejected(out: Output): void {
  const fold = folds.get(out);
  if (!fold) return;
  clearTimeout(fold.timer);
  folds.delete(out);
  if (fold.more > 0) out.print(`${out.style.yellow('!')} … and ${fold.more} more like it in that second`);
}

export function printEvent(ctx: Context, event: RelayEvent, out: Output = ctx.out): void {
  const s = out.style;
  switch (event.event) {
    case 'listening':
      out.print(`${s.green('Relay listening')} on ${s.bold(event.url)}`);
      return;
    case 'tunnel':
      out.print(`Tunnel (${event.provider}): ${s.bold(event.url)}`);
      return;
    case 'callback_url':
      out.print(`  Callback URL for ${event.label}: ${s.bold(event.url)}`);
      return;
    case 'message':
      out.print(
        `${s.cyan('←')} ${event.type} from ${displaySender(event.from)}${event.contactName ? ` (${printable(event.contactName)})` : ''} ${printable(JSON.stringify(truncate(event.text, 80)))}` +
          (event.duplicate ? s.dim('  (redelivery, already stored)') : ''),
      );
      return;
    case 'status':
      // The message lumen sent (msg_…) and to whom, rather than a 60-character wamid.
      void statusLine(ctx, event).then((line) =>
        out.print(s.dim(line + (event.category ? ` · ${event.category}${event.billable ? ', billable' : ''}` : ''))),
      );
      return;
    case 'change':
      // Quotes what a stranger wrote (an edit's new text, a name): no control or bidi character reaches the terminal.
      out.print(`${s.cyan('◆')} ${printable(event.text)}`);
      return;
    case 'forward':
      out.print(
        event.ok
          ? `${s.green('→')} ${event.queue === 'raw' ? "Meta's delivery" : event.object} ${event.ref} handed on (${event.status ?? 0})`
          : `${s.red('→')} ${event.queue === 'raw' ? "Meta's delivery" : event.object} ${event.ref} to ${event.target} failed (${event.error}); attempt ${event.attempt}, retrying at ${event.nextAttemptAt ? ctx.time.atRelative(event.nextAttemptAt) : '?'}`,
      );
      return;
    case 'dispatch':
      out.print(
        event.ok
          ? /^https?:\/\//.test(event.target)
            ? `${s.green('→')} ${event.interactionId} (event ${event.eventId}) forwarded ${event.status ?? ''} in ${event.durationMs} ms`
            : `${s.green('→')} ${event.interactionId} (event ${event.eventId}) ran ${event.target}: exit ${event.status ?? 0} in ${event.durationMs} ms`
          : `${s.red('→')} ${event.interactionId} (event ${event.eventId}) to ${event.target} failed (${event.error}); attempt ${event.attempt}, retrying at ${event.nextAttemptAt ? ctx.time.atRelative(event.nextAttemptAt) : '?'}`,
      );
      return;
    case 'auto_reply':
    case 'reply': {
      const what = event.event === 'auto_reply' ? 'auto-reply' : 'reply';
      const to = displaySender(event.to);
      out.print(
        !event.ok
          ? `${s.red('↩')} ${what} to ${to} failed: ${event.error}`
          : event.pendingApproval
            ? `${s.yellow('↩')} ${what} to ${to} awaits approval (${event.pendingApproval})`
            : event.alreadySent
              ? `${s.dim('↩')} replied to ${to} before (${event.id}${event.differs ? ', another answer' : ''}); not sent again`
              : `${s.green('↩')} replied to ${to} (${event.id})`,
      );
      return;
    }
    case 'registration':
      if (event.ok) {
        out.print(`${s.green('✓')} Meta verified the Callback URL for ${event.label} (${event.scope === 'waba' ? 'WABA' : 'number'} override): ${event.url}`);
        if (event.warning) out.print(`${s.yellow('!')} But ${event.warning}`);
      } else {
        out.print(`${s.red('✗')} Meta did not take the Callback URL for ${event.label}: ${event.error?.message ?? 'refused'}`);
        if (event.error?.hint) out.print(`  ${event.error.hint}`);
      }
      return;
    case 'handshake':
      out.print(event.ok ? `${s.green('✓')} Meta verified the webhook (${event.integrationId})` : `${s.red('✗')} webhook verification refused: wrong verify token`);
      return;
    case 'ignored':
      out.print(s.dim(`· ignored ${event.reason}${event.field ? ` (${event.field})` : ''}${event.phoneNumberId ? ` for number ${event.phoneNumberId}` : ''}`));
      return;
    case 'rejected':
      printRejected(out, `${s.yellow('!')} ${event.status} ${printable(event.reason)}`, `${event.status} ${event.reason}`);
      return;
    case 'media':
      out.print(
        event.ok
          ? s.dim(`· media ${event.mediaId} stored (${event.size ?? 0} bytes) for ${event.interactionId ?? 'an upload'}`)
          : `${s.yellow('!')} media ${event.mediaId} not fetched (attempt ${event.attempt}): ${event.error}` +
              (event.retryAt ? `; retrying at ${ctx.time.atRelative(event.retryAt)}` : '; given up (the message is kept)'),
      );
      return;
    case 'handler_output':
      out.print(`${s.dim(`${event.interactionId ?? event.ref ?? ''} ${event.stream === 'stderr' ? '!' : '>'}`)} ${event.text}`);
      return;
    case 'webhook_error':
      out.print(
        `${s.red('!')} Meta reported an error${event.code !== null ? ` ${event.code}` : ''}: ${printable(event.title ?? event.message ?? 'no title')}` +
          (event.details ? ` — ${printable(event.details)}` : ''),
      );
      return;
    case 'retention':
      out.print(
        s.dim(
          `· retention: removed ${event.inbound} inbound and ${event.outbound} sent messages, ${event.statuses} statuses, ` +
            `${event.media} media records (${event.files} files) older than ${event.cutoff}` +
            (event.keptUndelivered > 0 ? `; kept ${event.keptUndelivered} not yet handed to your code` : ''),
        ),
      );
      return;
    case 'error':
      out.warn(event.message);
      return;
    case 'stopping':
      out.info(`Stopping (${event.signal}): finishing deliveries in flight…`);
      return;
    case 'stopped':
      out.info('Relay stopped.');
      return;
  }
}

/** Phone senders are digits (shown as +E.164); username users are shown by their user id. */
function displaySender(from: string): string {
  return /^\d+$/.test(from) ? `+${from}` : from;
}

function parseRate(value: string, flag: string): number {
  const rate = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(rate)) {
    throw new UsageError(`${flag} must be a whole number of requests per second (0 turns it off); got "${value}".`);
  }
  return rate;
}

function checkForwardUrl(value: string): string | true {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? true : '--forward-to must be an http(s) URL.';
  } catch {
    return `--forward-to is not a valid URL: "${value}".`;
  }
}
