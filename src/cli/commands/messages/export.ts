import { createWriteStream, type WriteStream } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';
import { once } from 'node:events';
import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { fileProblem, UsageError, UserError } from '../../../errors.js';
import { normalizeSender, parseSince } from '../../flag-values.js';
import { exportMessages as exportAll, type ExportFormat } from '../../../services/maintenance/export.js';
import type { exportMessages } from './index.js';
import { printable } from '../../table.js';

export async function run(ctx: Context, options: Options<typeof exportMessages>): Promise<void> {
  if (options.format !== 'csv' && options.format !== 'ndjson') {
    throw new UsageError(`--format must be csv or ndjson; got "${options.format}".`);
  }
  const format: ExportFormat = options.format;
  const since = options.since ? parseSince(options.since, ctx.now()) : undefined;
  const from = options.from ? normalizeSender(options.from) : undefined;
  const store = await ctx.store();
  const workspace = await ctx.workspace();

  const toFile = options.output !== undefined && options.output !== '-';
  // An existing file is kept unless --force (as `backup` and `media get` do), and so is a link to nothing (it would be
  // written through); a device (/dev/null) or a pipe is no file.
  const existing = toFile ? await stat(options.output!).catch(() => undefined) : undefined;
  const dangling = toFile && !existing && (await lstat(options.output!).catch(() => undefined))?.isSymbolicLink() === true;
  if ((existing?.isFile() || dangling) && !options.force) {
    throw new UsageError(`${options.output} exists already; nothing was written.`, 'Give another -o, or --force to replace it.');
  }
  // Nothing there: created, never replacing a file that appeared since the check.
  const flags = existing || options.force ? 'w' : 'wx';
  const sink: NodeJS.WritableStream | WriteStream = toFile ? createWriteStream(options.output!, { mode: 0o600, flags }) : ctx.io.stdout;
  if (toFile) {
    const file = sink as WriteStream;
    await new Promise((resolve, reject) => {
      file.once('open', resolve);
      file.once('error', reject);
    }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST') {
        throw new UsageError(`${options.output} exists already; nothing was written.`, 'Give another -o, or --force to replace it.');
      }
      throw new UserError(`Cannot write ${options.output}: ${fileProblem(error)}.`, {
        code: 'output_unwritable',
        hint: 'Check that the folder exists and is writable.',
      });
    });
  }
  // On a terminal, a stranger's control and bidi characters are shown as escapes (as in tables); to a file or a
  // pipe the data stays exactly as stored.
  const onTerminal = !toFile && ctx.io.stdout.isTTY === true;
  const write = async (chunk: string) => {
    if (!sink.write(onTerminal ? chunk.replace(/[^\n]+/g, printable) : chunk)) await once(sink, 'drain');
  };
  const count = await exportAll({ store }, { workspaceId: workspace.id, format, since, from }, write);
  if (toFile) {
    await new Promise<void>((resolve, reject) => (sink as WriteStream).end((error?: Error | null) => (error ? reject(error) : resolve())));
    // The file holds the data; what was written is the result.
    ctx.out.result({ format, count, output: options.output }, () => `Wrote ${count} messages to ${options.output} (${format}).`);
  } else if (!ctx.globals.json) {
    ctx.out.info(`${count} messages exported.`);
  }
}
