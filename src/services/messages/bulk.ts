import { createHash } from 'node:crypto';
import { UserError } from '../../errors.js';
import { GraphError, GraphNetworkError } from '../../graph/errors.js';
import type { Integration, Workspace } from '../../store/types.js';
import type { TemplateParameter } from '../templates/parameters.js';
import { assertMarketingAllowed, findSendableTemplate, parseRecipient, readdressed } from './compose.js';
import { isUserId, type Recipient } from './message-types.js';
import { assertCountryCode } from './recipient.js';
import type { CsvFile, CsvRow } from './csv.js';
import type { ServiceDeps } from '../deps.js';
import { deliverOutbound, previewOutbound, submitOutbound, type SendRates } from './outbox.js';
import { buildTemplateComponents, templateMessageBody, type TemplateValues } from './template-body.js';

export interface BulkInput {
  workspace: Workspace;
  integration: Integration;
  csv: CsvFile;
  template: { name: string; language?: string | undefined };
  rates: SendRates;
  dryRun: boolean;
  /** Names this send: rows already sent under it are skipped on a re-run. Default: the template and language. */
  batchKey?: string | undefined;
}

/** `opted_out`: a MARKETING template to a contact who asked Meta to stop marketing messages, not sent (no fault of the row). */
export type BulkRowStatus = 'sent' | 'skipped' | 'pending_approval' | 'failed' | 'invalid' | 'opted_out' | 'dry_run';

export interface BulkRowResult {
  line: number;
  to: string | null;
  status: BulkRowStatus;
  id?: string;
  wamid?: string | null;
  error?: string;
  /** Stable code of the error (`send_failed`, `send_outcome_unknown`, `template_parameters`, …). */
  code?: string;
  body?: Record<string, unknown>;
}

export interface BulkSummary {
  total: number;
  sent: number;
  skipped: number;
  pendingApproval: number;
  failed: number;
  invalid: number;
  /** Rows of a MARKETING template to contacts who opted out of marketing: not sent, and no failure. */
  optedOut: number;
  dryRun: number;
  durationMs: number;
  /** Sends per second over the run (sent rows only). */
  rate: number;
  /** Rows neither sent nor reported because the run stopped early: a re-run sends them. */
  notSent: number;
  /** Why the run stopped before the last row: Ctrl-C, a rejected token, or the Graph API unreachable; null when it did not. */
  stopped: BulkStopReason | null;
}

export type BulkStopReason = 'cancelled' | 'auth' | 'graph_unreachable';

/** What a bulk run ends with: its summary, and the error that stopped it early (to report after the summary). */
export interface BulkOutcome {
  summary: BulkSummary;
  stop?: UserError;
}

/** A Graph API that fails this many sends in a row on the network is unreachable: the run stops. */
export const NETWORK_FAILURES_TO_STOP = 3;

/** The CSV column each parameter comes from: its placeholder name for the body, `header`, `button.N`. */
export function columnFor(parameter: TemplateParameter): string {
  if (parameter.component === 'header') return 'header';
  if (parameter.component === 'button') return `button.${parameter.buttonIndex}`;
  return parameter.name;
}

/**
 * Sends one template to every row of a CSV at a set rate. Every row is checked before anything is sent; a bad row
 * is reported with its line number and does not stop the others; rows sent by an earlier run are skipped.
 *
 * The file is read twice, a row at a time: once to check every row (and find the same message twice), then to send.
 * What is kept between the two is a digest and a line number per message, not the rows.
 */
export async function runBulk(
  deps: ServiceDeps,
  input: BulkInput,
  onRow: (result: BulkRowResult) => void,
  options: { concurrency?: number; signal?: AbortSignal } = {},
): Promise<BulkOutcome> {
  const started = deps.now().getTime();
  const template = await findSendableTemplate(deps.store, input.integration, input.template.name, input.template.language);
  const columns = ['to', ...new Set(template.requiredParameters.map(columnFor))];
  // Each column by its name, or else by the one header that differs only in case ("To", as spreadsheets write it).
  const header = input.csv.header;
  const columnName = new Map<string, string>();
  for (const column of columns) {
    const alike = header.filter((h) => h.toLowerCase() === column.toLowerCase());
    if (!header.includes(column) && alike.length > 1) {
      throw new UserError(`The CSV has ${alike.map((h) => `"${h}"`).join(' and ')}: which is the column "${column}"?`, {
        code: 'csv_columns',
        hint: `Name it "${column}" exactly, and rename or drop the other${alike.length > 2 ? 's' : ''}.`,
        kind: 'usage',
      });
    }
    const name = header.includes(column) ? column : alike[0];
    if (name !== undefined) columnName.set(column, name);
  }
  const missing = columns.filter((c) => !columnName.has(c));
  if (missing.length > 0) {
    const has = header.filter((h) => h !== '');
    throw new UserError(`The CSV lacks the column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `"${c}"`).join(', ')}.`, {
      code: 'csv_columns',
      hint: `Template ${template.name} (${template.language}) needs the columns: ${columns.join(', ')}. The CSV has: ${has.length > 0 ? has.join(', ') : 'no named columns'}.`,
      kind: 'usage',
    });
  }
  const value = (row: CsvRow, column: string) => row.values[columnName.get(column)!] ?? '';
  const summary: BulkSummary = { total: input.csv.count, sent: 0, skipped: 0, pendingApproval: 0, failed: 0, invalid: 0, optedOut: 0, dryRun: 0, durationMs: 0, rate: 0, notSent: 0, stopped: null };
  const report = (result: BulkRowResult) => {
    const key = ({ sent: 'sent', skipped: 'skipped', pending_approval: 'pendingApproval', failed: 'failed', invalid: 'invalid', opted_out: 'optedOut', dry_run: 'dryRun' } as const)[result.status];
    summary[key] += 1;
    onRow(result);
  };

  const batchKey = input.batchKey ?? `bulk:${template.name}:${template.language}`;
  const named = template.parameterFormat === 'NAMED';
  const bodyParams = template.requiredParameters.filter((p) => p.component === 'body');
  /** A row's message to `to`: its body's JSON and that JSON's digest. Throws when Meta would refuse the parameters. */
  const messageOf = (row: CsvRow, to: Recipient) => {
    const values: TemplateValues = {
      body: named ? Object.fromEntries(bodyParams.map((p) => [p.name, value(row, p.name)])) : bodyParams.map((p) => value(row, p.name)),
      header: template.requiredParameters.some((p) => p.component === 'header') ? value(row, 'header') : undefined,
      buttons: Object.fromEntries(
        template.requiredParameters.filter((p) => p.component === 'button').map((p) => [p.buttonIndex!, value(row, `button.${p.buttonIndex}`)]),
      ),
    };
    const json = JSON.stringify(readdressed(templateMessageBody(to.id, template, buildTemplateComponents(template, values)), to));
    return { json, digest: createHash('sha256').update(json).digest('hex').slice(0, 16) };
  };

  // Check every row first: nothing is sent for a row Meta would refuse. The same message twice in one file is sent
  // once, from its first line. Kept for the second read: the line of each row to send, and its number (or user id).
  const firstLine = new Map<string, number>();
  const marketing = (template.category ?? '').toUpperCase() === 'MARKETING';
  const readyLines: number[] = [];
  const readyTo: string[] = [];
  let looked = 0;
  for await (const row of input.csv.rows()) {
    // The file is read from memory: without a turn of the event loop now and then, Ctrl-C would wait for the end.
    if (++looked % 500 === 0) await new Promise((resolve) => setImmediate(resolve));
    if (options.signal?.aborted) {
      summary.stopped = 'cancelled';
      break;
    }
    if ('reason' in row) {
      report({ line: row.line, to: null, status: 'invalid', error: row.reason });
      continue;
    }
    let to: string | null = null;
    let digest: string;
    try {
      // (A CSV is typed by people, as --to is: a national number is refused, not sent abroad.)
      assertCountryCode(value(row, 'to'));
      const recipient = parseRecipient(value(row, 'to'));
      to = recipient.id;
      digest = messageOf(row, recipient).digest;
      // As a single send: a MARKETING template to someone who asked Meta to stop marketing is refused before Meta.
      if (marketing) await assertMarketingAllowed(deps.store, input.integration, template, to);
    } catch (error) {
      // (A row Meta would refuse; a store that cannot be read stops the run, it is no fault of the row.)
      if (!(error instanceof UserError)) throw error;
      report({ line: row.line, to, status: error.code === 'marketing_opted_out' ? 'opted_out' : 'invalid', error: error.message, code: error.code });
      continue;
    }
    const first = firstLine.get(digest);
    if (first !== undefined) {
      report({ line: row.line, to, status: 'skipped', error: `same message as line ${first}` });
      continue;
    }
    firstLine.set(digest, row.line);
    readyLines.push(row.line);
    readyTo.push(to);
  }
  firstLine.clear();
  const readyCount = readyLines.length;
  if (summary.stopped === 'cancelled') {
    // Stopped while checking: nothing was sent; every row not reported is sent by the next run.
    summary.notSent = summary.total - summary.invalid - summary.optedOut - summary.skipped;
    summary.durationMs = deps.now().getTime() - started;
    return { summary };
  }
  /** The rows to send, read again. */
  async function* ready() {
    let next = 0;
    for await (const row of input.csv.rows()) {
      if (next === readyCount) break;
      if (row.line !== readyLines[next] || 'reason' in row) continue;
      const to = readyTo[next++]!;
      const recipient: Recipient = isUserId(to) ? { kind: 'user_id', id: to } : { kind: 'phone', id: to };
      const { json, digest } = messageOf(row, recipient);
      yield { line: row.line, to, recipientKind: recipient.kind, json, key: `${batchKey}:${to}:${digest}` };
    }
  }

  if (input.dryRun) {
    // What a real run would do with each row: rows an earlier run sent are skipped, as then.
    let previewed = 0;
    for await (const row of ready()) {
      if (previewed % 500 === 499) await new Promise((resolve) => setImmediate(resolve));
      if (options.signal?.aborted) {
        summary.stopped = 'cancelled';
        break;
      }
      previewed += 1;
      const body = JSON.parse(row.json) as Record<string, unknown>;
      try {
        const prior = await previewOutbound(deps, { integration: input.integration, kind: 'template', body, idempotencyKey: row.key });
        if (prior?.kind === 'already_sent') report({ line: row.line, to: row.to, status: 'skipped', id: prior.message.id, wamid: prior.message.wamid });
        else if (prior?.kind === 'pending_approval') report({ line: row.line, to: row.to, status: 'pending_approval', id: prior.message.id });
        else report({ line: row.line, to: row.to, status: 'dry_run', body });
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        report({ line: row.line, to: row.to, status: 'failed', error: error.message, code: error.code });
      }
    }
    summary.notSent = readyCount - previewed;
  } else {
    // The token first: a secret store that cannot be read stops the run before any row is queued.
    await deps.graphFor(input.integration);
    const rows = ready();
    let taken = 0;
    let fatal: UserError | undefined;
    let stopped: BulkStopReason | undefined;
    let networkFailures = 0;
    const stop = (reason: BulkStopReason, error?: UserError) => {
      stopped ??= reason;
      if (error) fatal ??= error;
    };
    const onAbort = () => stop('cancelled');
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const worker = async () => {
      // Rows already taken finish (a send in flight is never cut off); no new one starts once the run stops.
      while (stopped === undefined) {
        // (An async generator answers calls to next() in turn: each worker gets its own row.)
        const { value: row, done } = await rows.next();
        if (done) break;
        if (stopped !== undefined) break;
        taken += 1;
        try {
          const submitted = await submitOutbound(deps, {
            workspace: input.workspace,
            integration: input.integration,
            to: row.to,
            recipientKind: row.recipientKind,
            kind: 'template',
            body: JSON.parse(row.json) as Record<string, unknown>,
            templateName: template.name,
            templateLanguage: template.language,
            idempotencyKey: row.key,
            source: 'bulk',
          });
          if (submitted.kind === 'already_sent') {
            report({ line: row.line, to: row.to, status: 'skipped', id: submitted.message.id, wamid: submitted.message.wamid });
          } else if (submitted.kind === 'pending_approval') {
            report({ line: row.line, to: row.to, status: 'pending_approval', id: submitted.message.id });
          } else {
            const { message: sent, alreadySent } = await deliverOutbound(deps, submitted.message, input.integration, input.rates);
            report({ line: row.line, to: row.to, status: alreadySent ? 'skipped' : 'sent', id: sent.id, wamid: sent.wamid });
          }
          networkFailures = 0;
        } catch (error) {
          // A rejected token fails every row the same way: stop, and let the caller exit with the auth code.
          if (error instanceof UserError && error.kind === 'auth') stop('auth', error);
          // So does a Graph API that cannot be reached: a few in a row, and the rest would fail one by one.
          if (isNetworkFailure(error)) {
            networkFailures += 1;
            if (networkFailures >= NETWORK_FAILURES_TO_STOP) {
              stop(
                'graph_unreachable',
                new UserError(`The Graph API cannot be reached: ${networkFailures} sends in a row failed on the network (or got an answer that was not Meta's), so the run stopped.`, {
                  code: 'graph_unreachable',
                  kind: 'unavailable',
                  hint: 'Check the connection (and LUMEN_GRAPH_URL), then run the same command again: rows already sent are skipped, the others are sent.',
                  cause: error,
                }),
              );
            }
          } else {
            networkFailures = 0;
          }
          report({ line: row.line, to: row.to, status: 'failed', error: (error as Error).message, code: errorCode(error) });
        }
      }
    };
    // Enough sends in flight to keep the rate with Graph latencies of a few hundred ms.
    const concurrency = options.concurrency ?? Math.max(1, Math.min(64, Math.ceil(input.rates.perIntegration / 2)));
    await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, readyCount)) }, worker));
    await rows.return(undefined);
    options.signal?.removeEventListener('abort', onAbort);
    summary.notSent = readyCount - taken;
    summary.stopped = stopped ?? null;
    summary.durationMs = deps.now().getTime() - started;
    summary.rate = summary.durationMs > 0 ? Math.round((summary.sent / summary.durationMs) * 100_000) / 100 : 0;
    return fatal ? { summary, stop: fatal } : { summary };
  }
  summary.durationMs = deps.now().getTime() - started;
  summary.rate = summary.durationMs > 0 ? Math.round((summary.sent / summary.durationMs) * 100_000) / 100 : 0;
  return { summary };
}

/** The send never reached Meta, or its answer never came back: the network, not Meta, failed it. */
function isNetworkFailure(error: unknown): boolean {
  if (error instanceof GraphNetworkError) return true;
  // (An answer that is not Meta's — a proxy's 502 page — counts too: every row would end "outcome unknown".)
  return (
    error instanceof UserError &&
    (error.code === 'graph_unreachable' || (error.code === 'send_outcome_unknown' && (error.cause instanceof GraphNetworkError || error.cause instanceof GraphError)))
  );
}

function errorCode(error: unknown): string | undefined {
  return error instanceof UserError ? error.code : undefined;
}
