import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Context } from '../context.js';
import type { Options } from '../declare.js';
import { serviceDeps } from '../deps.js';
import { UsageError, UserError, type Outcome } from '../../errors.js';
import { resolveGraphSettings } from '../../config/config.js';
import type { BulkRowResult, BulkSummary } from '../../services/messages/bulk.js';
import type { TemplateInput, TextInput } from '../../services/messages/compose.js';
import type { OutboxDeps } from '../../services/messages/outbox.js';
import { outboundSummary } from '../../services/messages/send.js';
import { parseButtonValues } from '../../services/messages/template-body.js';
import { readIntegrationSecrets, resolveIntegration } from '../../services/whatsapp/integrations.js';
import type { Integration } from '../../store/types.js';
import type { send } from './index.js';

type SendOptions = Options<typeof send>;

export async function run(ctx: Context, options: SendOptions): Promise<Outcome> {
  if (options.text !== undefined && options.template !== undefined) throw new UsageError('Give --text or --template, not both.');
  if (options.csv !== undefined) {
    if (options.template === undefined) throw new UsageError('--csv sends a template: add --template NAME (and --lang).');
    if (options.to !== undefined) throw new UsageError('--csv takes the recipients from its "to" column; drop --to.');
  } else {
    if (options.to === undefined) throw new UsageError('Missing --to (the recipient, e.g. +15551234567).');
    if (options.text === undefined && options.template === undefined) throw new UsageError('Give --text "…" or --template NAME.');
  }
  if (options.text !== undefined && (options.param.length > 0 || options.headerParam || options.buttonParam.length > 0)) {
    throw new UsageError('--param, --header-param and --button-param go with --template.');
  }
  const rates = {
    perIntegration: parseRate(options.rate, '--rate', 1000),
    perWorkspace: parseRate(options.workspaceRate, '--workspace-rate', 10_000),
  };

  const deps = await serviceDeps(ctx);
  const workspace = await ctx.workspace();
  const integration = await resolveIntegration(deps.store, workspace, options.integration);
  const outbox: OutboxDeps = {
    store: deps.store,
    now: deps.now,
    graphFor: async (target: Integration) => ctx.graph((await readIntegrationSecrets(deps, target)).accessToken),
  };

  if (options.csv !== undefined) return runCsv(ctx, outbox, { workspace, integration, options, rates });

  const message: TextInput | TemplateInput =
    options.text !== undefined
      ? { kind: 'text', text: options.text, previewUrl: options.previewUrl === true, replyTo: options.replyTo }
      : {
          kind: 'template',
          name: options.template!,
          language: options.lang,
          params: options.param,
          header: options.headerParam,
          buttons: parseButtonValues(options.buttonParam),
        };

  if (options.dryRun) {
    const { composeMessage } = await import('../../services/messages/compose.js');
    const composed = await composeMessage(deps.store, integration, { to: options.to!, message, force: options.force === true, now: ctx.now() });
    const { version } = resolveGraphSettings(ctx.env, ctx.config());
    const request = { method: 'POST', path: `/${version}/${integration.phoneNumberId}/messages`, body: composed.body };
    ctx.out.result({ dryRun: true, request }, () => [
      `Dry run: nothing sent. lumen would send:`,
      `${request.method} ${request.path}`,
      JSON.stringify(request.body, null, 2),
    ]);
    return 'ok';
  }

  const { sendOne } = await import('../../services/messages/send.js');
  const result = await ctx.out.step(
    `Sending to ${options.to}`,
    () =>
      sendOne(outbox, {
        workspace,
        integration,
        to: options.to!,
        message,
        force: options.force === true,
        idempotencyKey: options.idempotencyKey,
        rates,
      }),
    (r) => (r.outcome === 'pending_approval' ? 'Held for approval' : r.outcome === 'already_sent' ? 'Already sent earlier (same idempotency key)' : `Sent to +${r.message.recipient}`),
  );
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

async function runCsv(
  ctx: Context,
  outbox: OutboxDeps,
  input: { workspace: import('../../store/types.js').Workspace; integration: Integration; options: SendOptions; rates: { perIntegration: number; perWorkspace: number } },
): Promise<Outcome> {
  const { options } = input;
  if (options.param.length > 0 || options.headerParam || options.buttonParam.length > 0) {
    throw new UsageError('With --csv the parameters come from the CSV columns, not --param.');
  }
  let text: string;
  try {
    text = readFileSync(options.csv!, 'utf8');
  } catch (error) {
    throw new UserError(`Cannot read ${options.csv}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`, { code: 'csv_unreadable', kind: 'usage' });
  }
  const { parseCsv } = await import('../../services/messages/csv.js');
  const { runBulk } = await import('../../services/messages/bulk.js');
  const csv = parseCsv(text);
  if (csv.header.length === 0) throw new UserError(`${options.csv} is empty.`, { code: 'csv_empty', kind: 'usage' });

  const progress = new Progress(ctx, csv.rows.length + csv.malformed.length);
  const summary = await runBulk(
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
  );
  progress.done();
  if (ctx.globals.json) ctx.out.event({ event: 'summary', ...summary });
  else for (const line of summaryLines(summary)) ctx.out.print(line);
  return summary.failed > 0 || summary.invalid > 0 ? 'failed' : summary.pendingApproval > 0 ? 'pending_approval' : 'ok';
}

function summaryLines(summary: BulkSummary): string[] {
  const parts = [`${summary.sent} sent`];
  if (summary.skipped) parts.push(`${summary.skipped} already sent (skipped)`);
  if (summary.pendingApproval) parts.push(`${summary.pendingApproval} awaiting approval`);
  if (summary.failed) parts.push(`${summary.failed} failed`);
  if (summary.invalid) parts.push(`${summary.invalid} invalid`);
  if (summary.dryRun) parts.push(`${summary.dryRun} would be sent (dry run)`);
  const lines = [`${parts.join(', ')} of ${summary.total} rows in ${(summary.durationMs / 1000).toFixed(1)} s${summary.sent ? ` (${summary.rate}/s)` : ''}.`];
  if (summary.failed || summary.invalid) lines.push('Fix the rows above and run the same command again: rows already sent are skipped.');
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
    if (row.status === 'failed' || row.status === 'invalid') {
      this.failed += 1;
      this.clear();
      this.ctx.out.warn(`${file}:${row.line}${row.to ? ` (+${row.to})` : ''}: ${row.error}`);
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
    process.stderr.write(
      `\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] sent ${this.sent} · failed ${this.failed} · remaining ${remaining} · ${rate.toFixed(1)}/s · ETA ${eta}  `,
    );
  }

  private clear(): void {
    if (this.ctx.out.fancy) process.stderr.write('\r\u001b[2K');
  }

  done(): void {
    if (this.ctx.out.fancy && this.handled > 0) process.stderr.write('\n');
  }
}

function parseRate(value: string, flag: string, max: number): number {
  const rate = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value.trim()) || rate <= 0 || rate > max) {
    throw new UsageError(`${flag} must be a number of messages per second from 0.1 to ${max}; got "${value}".`);
  }
  return rate;
}
