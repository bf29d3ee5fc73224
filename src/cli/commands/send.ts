import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Context } from '../context.js';
import type { Options } from '../declare.js';
import { serviceDeps } from '../deps.js';
import { CancelledError, fileProblem, UsageError, UserError, type Outcome } from '../../errors.js';
import { resolveGraphSettings } from '../../config/config.js';
import type { BulkRowResult, BulkSummary } from '../../services/messages/bulk.js';
import { showRecipient, type MessageInput } from '../../services/messages/compose.js';
import { contactsFromVcard, formatBytes, isUserId, MEDIA_TYPES, type FreeFormInput } from '../../services/messages/message-types.js';
import type { ServiceDeps } from '../../services/deps.js';
import type { SendOneInput } from '../../services/messages/send.js';
import { outboundSummary } from '../../services/messages/summary.js';
import { assertCountryCode, formatRecipient } from '../../services/messages/recipient.js';
import { parseButtonValues } from '../../services/messages/template-body.js';
import { resolveIntegration } from '../../services/whatsapp/integrations.js';
import type { Integration } from '../../store/types.js';
import type { send } from './index.js';

type SendOptions = Options<typeof send>;

/** What one send carries: the message, and the local file it uploads once the message passes every check. */
interface Content {
  message: MessageInput;
  upload?: SendOneInput['upload'];
}

export async function run(ctx: Context, options: SendOptions): Promise<Outcome> {
  checkCombination(options);
  // An empty key (`--idempotency-key "$KEY"` with KEY unset) would send without the protection it asks for.
  if (options.idempotencyKey?.trim() === '') {
    throw new UsageError('--idempotency-key is empty.', 'Give the key that names this message, e.g. --idempotency-key order-1234-shipped.');
  }
  // A number typed here may be a national one: "6465550100" is New York's and New Zealand's.
  if (options.to !== undefined) assertCountryCode(options.to);
  const rates = {
    perIntegration: parseRate(options.rate, '--rate', 1000),
    perWorkspace: parseRate(options.workspaceRate, '--workspace-rate', 10_000),
  };
  // Files and stdin are read (and media files checked) before anything else: a bad one is a usage error.
  const content = options.csv === undefined ? await contentOf(options, ctx.io.stdin) : undefined;

  const deps = await serviceDeps(ctx);
  const workspace = await ctx.workspace();
  const integration = await resolveIntegration(deps.store, workspace, options.integration);
  const outbox = deps;

  if (content === undefined) return runCsv(ctx, outbox, { workspace, integration, options, rates });
  const { message, upload } = content;

  if (options.dryRun) {
    const { composeMessage } = await import('../../services/messages/compose.js');
    const { withPendingUpload } = await import('../../services/messages/send.js');
    const composed = await composeMessage(deps.store, integration, { to: options.to!, message, force: options.force === true, now: ctx.now() });
    withPendingUpload(composed, upload);
    // With a key, what a real send would do with it: nothing when it already sent this message, an error when it
    // names another. (A file to upload is checked by its content when the real send runs.)
    if (options.idempotencyKey !== undefined && !upload) {
      const { previewOutbound } = await import('../../services/messages/outbox.js');
      const prior = await previewOutbound(deps, { integration, kind: composed.kind, body: composed.body, idempotencyKey: options.idempotencyKey });
      if (prior && prior.kind !== 'queued') {
        const { message: held } = prior;
        ctx.out.result({ dryRun: true, outcome: prior.kind, id: held.id, state: held.state, wamid: held.wamid }, () => [
          prior.kind === 'already_sent'
            ? `Dry run: nothing would be sent. This key already sent this message (${held.id}, ${held.state}).`
            : `Dry run: nothing would be sent. This key's message (${held.id}) is awaiting approval: lumen approvals approve ${held.id}.`,
        ]);
        return 'ok';
      }
    }
    const { version } = resolveGraphSettings(ctx.env, ctx.config());
    const request = { method: 'POST', path: `/${version}/${integration.phoneNumberId}/messages`, body: composed.body };
    const file = upload && { path: upload.file.path, mimeType: upload.file.mimeType, size: upload.file.size };
    ctx.out.result({ dryRun: true, request, ...(file ? { upload: file } : {}) }, () => [
      `Dry run: nothing sent${file ? ' or uploaded' : ''}. lumen would ${file ? `upload ${file.path} (${file.mimeType}, ${formatBytes(file.size)}), then ` : ''}send:`,
      `${request.method} ${request.path}`,
      JSON.stringify(request.body, null, 2),
    ]);
    return 'ok';
  }

  const { sendOne } = await import('../../services/messages/send.js');
  const label = upload ? `Uploading ${basename(upload.file.path)} and sending to ${options.to}` : `Sending to ${options.to}`;
  const { finishingSend } = await import('../serve.js');
  const result = await finishingSend((line) => ctx.out.warn(line), (stop) => ctx.out.step(
    label,
    () =>
      sendOne(outbox, {
        workspace,
        integration,
        to: options.to!,
        message,
        upload,
        force: options.force === true,
        idempotencyKey: options.idempotencyKey,
        rates,
        stop,
      }),
    (r) =>
      r.outcome === 'pending_approval'
        ? 'Held for approval'
        : r.outcome === 'already_sent'
          ? 'Already sent earlier (same idempotency key)'
          : `Sent to ${r.message.recipientKind === 'phone' ? formatRecipient(r.message.recipient) : showRecipient({ kind: r.message.recipientKind, id: r.message.recipient })}`,
  ));
  const data = { ...outboundSummary(result.message), outcome: result.outcome };
  const s = ctx.out.style;
  ctx.out.result(data, () => {
    if (result.outcome === 'pending_approval') {
      return [
        `Message ${s.bold(result.message.id)} awaits approval (workspace policy "${workspace.approvalPolicy}").`,
        `Approve it with \`lumen approvals approve ${result.message.id}\`, or reject it with \`lumen approvals reject ${result.message.id} --reason "…"\`.`,
      ];
    }
    return [
      `${result.outcome === 'already_sent' ? 'Already sent' : 'Accepted by Meta'}: ${result.message.id} (${result.message.wamid}).`,
      s.dim(`Accepted is not delivered: \`lumen messages show ${result.message.id}\` shows the delivery statuses as they arrive.`),
    ];
  });
  return result.outcome === 'pending_approval' ? 'pending_approval' : 'ok';
}

/** The flags that each make a message of their own kind (--text alone is a text; with some of these, their body). */
function contentFlags(options: SendOptions): string[] {
  const given: string[] = [];
  if (options.template !== undefined) given.push('--template');
  for (const type of MEDIA_TYPES) if (options[type] !== undefined) given.push(`--${type}`);
  if (options.button.length > 0) given.push('--button');
  if (options.list !== undefined) given.push('--list');
  if (options.ctaUrl !== undefined) given.push('--cta-url');
  if (options.location !== undefined) given.push('--location');
  if (options.contactCard !== undefined) given.push('--contact-card');
  if (options.react !== undefined) given.push('--react');
  if (options.body !== undefined) given.push('--body');
  return given;
}

const INTERACTIVE = ['--button', '--list', '--cta-url'];
const MEDIA_FLAGS = MEDIA_TYPES.map((type) => `--${type}`);

/** One kind of message per send, and only the flags that kind takes. */
function checkCombination(options: SendOptions): void {
  if (options.text !== undefined && options.template !== undefined) throw new UsageError('Give --text or --template, not both.');
  const given = contentFlags(options);
  if (given.length > 1) throw new UsageError(`One kind of message per send: ${given.join(' and ')} do not go together.`);
  const kind = given[0];
  if (options.csv !== undefined) {
    if (kind !== undefined && kind !== '--template') throw new UsageError(`--csv sends a template to each row; ${kind} does not go with it.`);
    if (options.template === undefined) throw new UsageError('--csv sends a template: add --template NAME (and --lang).');
    if (options.to !== undefined) throw new UsageError('--csv takes the recipients from its "to" column; drop --to.');
    const unused = [options.replyTo !== undefined && '--reply-to', options.filename !== undefined && '--filename'].filter(Boolean);
    if (unused.length > 0) throw new UsageError(`--csv does not take ${unused.join(' or ')}.`);
  } else {
    if (options.to === undefined) throw new UsageError('Missing --to (the recipient, e.g. +15551234567).');
    if (options.text === undefined && kind === undefined) {
      throw new UsageError('Give --text "…" or --template NAME, or another kind of message (--image, --button, --location, … see `lumen send --help`).');
    }
  }
  if (options.template === undefined && (options.param.length > 0 || options.headerParam || options.buttonParam.length > 0)) {
    throw new UsageError('--param, --header-param and --button-param go with --template.');
  }
  if (options.lang !== undefined && options.template === undefined) throw new UsageError("--lang goes with --template (the template's language).");
  const interactive = kind !== undefined && INTERACTIVE.includes(kind);
  const media = kind !== undefined && MEDIA_FLAGS.includes(kind);
  if (options.text !== undefined && kind !== undefined && !interactive) {
    throw new UsageError(media ? `--text does not go with ${kind}: a media message's text is --caption.` : `--text does not go with ${kind}.`);
  }
  if ((kind === '--button' || kind === '--cta-url') && options.text === undefined) throw new UsageError(`${kind} needs --text: the message body.`);
  if (options.ctaText !== undefined && kind !== '--cta-url') throw new UsageError('--cta-text goes with --cta-url.');
  if (kind === '--cta-url' && options.ctaText === undefined) throw new UsageError("--cta-url needs --cta-text: the button's label.");
  if ((options.header !== undefined || options.footer !== undefined) && !interactive) {
    throw new UsageError("--header and --footer go with --button, --list or --cta-url (a template's header value is --header-param).");
  }
  if (options.caption !== undefined && !media) throw new UsageError('--caption goes with --image, --video or --document.');
  if (options.filename !== undefined && !media && kind !== '--template') {
    throw new UsageError("--filename goes with --document (or a template's DOCUMENT header).");
  }
  if ((options.name !== undefined || options.address !== undefined) && kind !== '--location') {
    throw new UsageError('--name and --address go with --location.');
  }
  if (options.toMessage !== undefined && kind !== '--react') throw new UsageError('--to-message goes with --react.');
  if (kind === '--react') {
    if (options.toMessage === undefined) throw new UsageError('--react needs --to-message WAMID: the message to react to.');
    if (options.replyTo !== undefined) throw new UsageError('A reaction names its message with --to-message; --reply-to does not go with --react.');
  }
  if (options.previewUrl && (options.text === undefined || kind !== undefined)) throw new UsageError('--preview-url goes with a --text message.');
}

/** The message the flags describe (their combination already checked), reading the files they name. */
async function contentOf(options: SendOptions, stdin: NodeJS.ReadableStream): Promise<Content> {
  const replyTo = options.replyTo;
  const freeForm = (input: FreeFormInput, upload?: SendOneInput['upload']): Content => ({
    message: { kind: 'free_form', input, replyTo },
    ...(upload ? { upload } : {}),
  });
  if (options.template !== undefined) {
    return {
      message: {
        kind: 'template',
        name: options.template,
        language: options.lang,
        params: options.param,
        header: options.headerParam,
        headerFilename: options.filename,
        buttons: parseButtonValues(options.buttonParam),
        replyTo,
      },
    };
  }
  const mediaType = MEDIA_TYPES.find((type) => options[type] !== undefined);
  if (mediaType !== undefined) {
    const { mediaArgument, pendingUploadId } = await import('../../services/messages/media.js');
    const argument = await mediaArgument(mediaType, options[mediaType]!);
    const input = { kind: 'media', type: mediaType, caption: options.caption, filename: options.filename } as const;
    if ('source' in argument) return freeForm({ ...input, source: argument.source });
    // Sent by the id the upload gets (sendOne uploads the file once the message has passed every check).
    return freeForm({ ...input, source: { id: pendingUploadId(argument.file.path) } }, { type: mediaType, file: argument.file });
  }
  const frame = { header: options.header, footer: options.footer };
  if (options.button.length > 0) return freeForm({ kind: 'buttons', body: options.text!, buttons: options.button.map(parseButton), ...frame });
  if (options.list !== undefined) {
    const list = parseJson(readText(options.list, '--list'), options.list);
    // --text, --header and --footer fill in (or replace) the file's body, header and footer.
    const given = Object.fromEntries(Object.entries({ body: options.text, ...frame }).filter(([, value]) => value !== undefined));
    return freeForm({ kind: 'list', list: isRecord(list) ? { ...list, ...given } : list });
  }
  if (options.ctaUrl !== undefined) {
    return freeForm({ kind: 'cta_url', body: options.text!, url: options.ctaUrl, text: options.ctaText!, ...frame });
  }
  if (options.location !== undefined) {
    return freeForm({ kind: 'location', ...parseLocation(options.location), name: options.name, address: options.address });
  }
  if (options.contactCard !== undefined) return freeForm({ kind: 'contacts', contacts: readContactCard(options.contactCard) });
  if (options.react !== undefined) return freeForm({ kind: 'reaction', messageId: options.toMessage!, emoji: options.react });
  if (options.body !== undefined) {
    const text = options.body === '-' ? await readStdin(stdin) : readText(options.body, '--body');
    return freeForm({ kind: 'raw', body: parseJson(text, options.body === '-' ? 'stdin' : options.body) });
  }
  return { message: { kind: 'text', text: options.text!, previewUrl: options.previewUrl === true, replyTo } };
}

/** `--button ID=TITLE`. */
function parseButton(value: string): { id: string; title: string } {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new UsageError(`--button takes ID=TITLE, e.g. yes=Yes; got "${value}".`);
  return { id: value.slice(0, eq), title: value.slice(eq + 1) };
}

/** `--location LAT,LNG` (the range is checked with the message). */
function parseLocation(value: string): { latitude: number; longitude: number } {
  const match = /^\s*([-+]?\d+(?:\.\d+)?)\s*,\s*([-+]?\d+(?:\.\d+)?)\s*$/.exec(value);
  if (!match) throw new UsageError(`--location takes LAT,LNG in degrees, e.g. 38.7223,-9.1393; got "${value}".`);
  return { latitude: Number(match[1]), longitude: Number(match[2]) };
}

/** `--contact-card FILE`: a vCard (one or several cards), or JSON: a Cloud API contact object or a list of them. */
function readContactCard(path: string): unknown[] {
  const text = readText(path, '--contact-card');
  if (/\.(vcf|vcard)$/i.test(path) || /^\s*BEGIN:VCARD/i.test(text)) return contactsFromVcard(text);
  const parsed = parseJson(text, path);
  if (Array.isArray(parsed)) return parsed;
  if (isRecord(parsed)) return [parsed];
  throw new UsageError(`${path} must hold a vCard, a contact object or a list of them.`);
}

/** A file's text, without the UTF-8 BOM some editors (Notepad) begin it with. */
function readText(path: string, flag: string): string {
  try {
    return withoutBom(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UserError(`${flag} ${path}: cannot read it (${fileProblem(error)}).`, {
      code: 'file_unreadable',
      kind: 'usage',
    });
  }
}

async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  return withoutBom((await readStdinBytes(stdin)).toString('utf8'));
}

function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

async function readStdinBytes(stdin: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks);
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${where} is not JSON: ${(error as Error).message.split('\n')[0]}`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function runCsv(
  ctx: Context,
  outbox: ServiceDeps,
  input: { workspace: import('../../store/types.js').Workspace; integration: Integration; options: SendOptions; rates: { perIntegration: number; perWorkspace: number } },
): Promise<Outcome> {
  const { options } = input;
  if (options.param.length > 0 || options.headerParam || options.buttonParam.length > 0) {
    throw new UsageError('With --csv the parameters come from the CSV columns, not --param.');
  }
  let bytes: Buffer;
  try {
    // `--csv -` reads it from stdin, as `--body -` does.
    bytes = options.csv === '-' ? await readStdinBytes(ctx.io.stdin) : readFileSync(options.csv!);
  } catch (error) {
    throw new UserError(`Cannot read ${options.csv === '-' ? 'stdin' : options.csv}: ${fileProblem(error)}.`, { code: 'csv_unreadable', kind: 'usage' });
  }
  // Ctrl-C (or SIGTERM: `timeout`, systemd, `docker stop`, a cancelled CI job) stops taking rows, lets the sends in
  // flight finish, then prints the summary (exit 3). A second signal is not caught: it ends the process at once.
  // (Caught from here: a signal while the file is read stops the run before any row is checked.)
  const interrupt = new AbortController();
  const onSigint = (signal: NodeJS.Signals) => {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    interrupt.abort(signal);
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  const { checkEncoding, openCsv } = await import('../../services/messages/csv.js');
  const { runBulk } = await import('../../services/messages/bulk.js');
  const name = options.csv === '-' ? 'The CSV on stdin' : basename(options.csv!);
  let csv: ReturnType<typeof openCsv>;
  try {
    checkEncoding(bytes, name);
    csv = openCsv(bytes, name);
    if (csv.header.length === 0) throw new UserError(`${options.csv === '-' ? 'The CSV on stdin' : options.csv} is empty.`, { code: 'csv_empty', kind: 'usage' });
  } catch (error) {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    throw error;
  }

  const progress = new Progress(ctx, csv.count);
  const { summary, stop } = await runBulk(
    outbox,
    {
      workspace: input.workspace,
      integration: input.integration,
      csv,
      template: { name: options.template!, language: options.lang },
      rates: input.rates,
      dryRun: options.dryRun === true,
      batchKey: options.idempotencyKey ?? undefined,
    },
    (row) => {
      if (ctx.globals.json) ctx.out.event({ event: 'row', ...row });
      else progress.row(row, basename(options.csv!));
    },
    { signal: interrupt.signal },
  ).finally(() => {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  });
  progress.done();
  if (ctx.globals.json) ctx.out.event({ event: 'summary', ...summary });
  else for (const line of summaryLines(summary)) ctx.out.print(line);
  if (stop) throw stop;
  if (summary.stopped === 'cancelled') {
    throw new CancelledError(
      `Stopped (${interrupt.signal.reason === 'SIGTERM' ? 'SIGTERM' : 'Ctrl-C'}): ${summary.notSent} row${summary.notSent === 1 ? '' : 's'} not sent. Run the same command again to send them: rows already sent are skipped.`,
    );
  }
  return summary.failed > 0 || summary.invalid > 0 ? 'failed' : summary.pendingApproval > 0 ? 'pending_approval' : 'ok';
}

function summaryLines(summary: BulkSummary): string[] {
  const parts = [`${summary.sent} sent`];
  if (summary.skipped) parts.push(`${summary.skipped} already sent (skipped)`);
  if (summary.pendingApproval) parts.push(`${summary.pendingApproval} awaiting approval`);
  if (summary.failed) parts.push(`${summary.failed} failed`);
  if (summary.invalid) parts.push(`${summary.invalid} invalid`);
  if (summary.optedOut) parts.push(`${summary.optedOut} opted out of marketing (not sent)`);
  if (summary.dryRun) parts.push(`${summary.dryRun} would be sent (dry run)`);
  if (summary.notSent) parts.push(`${summary.notSent} not sent (stopped)`);
  const lines = [`${parts.join(', ')} of ${summary.total} rows in ${(summary.durationMs / 1000).toFixed(1)} s${summary.sent ? ` (${summary.rate}/s)` : ''}.`];
  if (summary.failed || summary.invalid) lines.push('Fix the rows above and run the same command again: rows already sent are skipped.');
  if (summary.skipped && !summary.sent) {
    lines.push('Skipped rows got this very message from an earlier bulk send; to send it to them again, name a new batch: --idempotency-key NAME.');
  }
  return lines;
}

/** A one-line progress bar on a terminal (stderr); plain lines for problems otherwise. */
class Progress {
  private sent = 0;
  private failed = 0;
  private handled = 0;
  private readonly started = Date.now();
  private lastDraw = 0;

  constructor(
    private readonly ctx: Context,
    private readonly total: number,
  ) {}

  row(row: BulkRowResult, file: string): void {
    this.handled += 1;
    if (row.status === 'sent') this.sent += 1;
    if (row.status === 'failed' || row.status === 'invalid' || row.status === 'opted_out') {
      if (row.status !== 'opted_out') this.failed += 1;
      this.clear();
      this.ctx.out.warn(`${file}:${row.line}${row.to ? ` (${isUserId(row.to) ? row.to : `+${row.to}`})` : ''}: ${row.error}`);
    }
    if (row.status === 'dry_run') this.ctx.out.print(`${file}:${row.line} ${JSON.stringify(row.body)}`);
    this.draw();
  }

  private draw(): void {
    if (!this.ctx.out.fancy) return;
    const now = Date.now();
    if (now - this.lastDraw < 100 && this.handled < this.total) return;
    this.lastDraw = now;
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? this.sent / seconds : 0;
    const remaining = this.total - this.handled;
    const eta = rate > 0 ? `${Math.ceil(remaining / rate)} s` : '…';
    const width = 24;
    const filled = Math.round((this.handled / Math.max(1, this.total)) * width);
    this.ctx.io.stderr.write(
      `\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] sent ${this.sent} · failed ${this.failed} · remaining ${remaining} · ${rate.toFixed(1)}/s · ETA ${eta}  `,
    );
  }

  private clear(): void {
    if (this.ctx.out.fancy) this.ctx.io.stderr.write('\r\u001b[2K');
  }

  done(): void {
    if (this.ctx.out.fancy && this.handled > 0) this.ctx.io.stderr.write('\n');
  }
}

function parseRate(value: string, flag: string, max: number): number {
  const rate = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value.trim()) || rate <= 0 || rate > max) {
    throw new UsageError(`${flag} must be a number of messages per second from 0.1 to ${max}; got "${value}".`);
  }
  return rate;
}
