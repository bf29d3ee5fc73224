import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { copyFile, link, lstat, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { serviceDeps } from '../../deps.js';
import { UsageError } from '../../../errors.js';
import { findMedia, mediaFile } from '../../../services/messages/media.js';
import { extensionFor, formatBytes } from '../../../services/messages/message-types.js';
import type { get } from './index.js';

export async function run(ctx: Context, options: Options<typeof get>, ref: string): Promise<void> {
  const toStdout = options.output === '-';
  if (toStdout && ctx.globals.json) throw new UsageError('-o - writes the file to stdout, where --json writes its document: give one of them.');
  const deps = await serviceDeps(ctx);
  const workspace = await ctx.workspace();
  const record = await findMedia(deps.store, workspace, ref);

  // A fetched file is written next to where it goes, then renamed into place: never half a file under its name.
  const named = options.output === undefined || toStdout ? undefined : resolve(options.output);
  const into = named !== undefined && (await stat(named).catch(() => undefined))?.isDirectory() ? named : undefined;
  if (named !== undefined && !into && /[/\\]$/.test(options.output ?? '')) throw new UsageError(`-o ${options.output}: there is no such folder.`);
  const target = into ? undefined : named;
  if (target) {
    const folder = await stat(dirname(target)).catch(() => undefined);
    if (!folder?.isDirectory()) throw new UsageError(`-o ${options.output}: there is no folder ${dirname(target)} to write it in.`);
    if (!options.force && (await lstat(target).catch(() => undefined))) {
      throw new UsageError(`${target} exists already; nothing was written.`, 'Give another -o, or --force to replace it.');
    }
  }
  const tmpDir = toStdout ? tmpdir() : target ? dirname(target) : (into ?? process.cwd());
  const stored = record.state === 'stored' && record.path !== null;
  const file = stored
    ? await mediaFile(deps, record, tmpDir, join(ctx.paths.dataDir, 'media'))
    : await ctx.out.step(
        `Fetching media ${record.mediaId} through the Graph API`,
        () => mediaFile(deps, record, tmpDir, join(ctx.paths.dataDir, 'media')),
        (f) => `Fetched media ${record.mediaId} (${formatBytes(f.size)}, SHA-256 checked)`,
      );
  try {
    const summary = {
      mediaId: record.mediaId,
      interactionId: record.interactionId,
      direction: record.direction,
      state: record.state,
      mimeType: file.mimeType,
      size: file.size,
      sha256: file.sha256,
      fetched: file.fetched,
    };
    if (toStdout) {
      for await (const chunk of createReadStream(file.path)) {
        if (!ctx.io.stdout.write(chunk)) await once(ctx.io.stdout, 'drain');
      }
      ctx.out.info(`Wrote media ${record.mediaId} (${file.mimeType ?? 'unknown type'}, ${formatBytes(file.size)}) to stdout.`);
      return;
    }
    // Without -o FILE the name is the content's hash. What is there already is kept unless --force: a file of that
    // name holding these very bytes is no conflict; another file, or a link (planted where others can write), is.
    const destination = target ?? resolve(into ?? '.', file.fetched ? `${file.sha256}${extensionFor(file.mimeType ?? '')}` : basename(file.path));
    const existing = target ? undefined : await lstat(destination).catch(() => undefined);
    const same = existing?.isFile() === true && (await sha256Of(destination)) === file.sha256;
    if (existing && !same && !options.force) {
      throw new UsageError(`${destination} exists already; nothing was written.`, 'Give another -o, or --force to replace it.');
    }
    // Written beside it, then moved into place: never through a link, never half a file under its name, and without
    // --force never over a file that appeared meanwhile.
    const replace = options.force === true || same;
    if (file.fetched) await place(file.path, destination, replace);
    else if (!same) {
      const tmp = join(dirname(destination), `.lumen-media-${randomBytes(8).toString('hex')}`);
      try {
        await copyFile(file.path, tmp);
        await place(tmp, destination, replace);
      } finally {
        await rm(tmp, { force: true });
      }
    }
    ctx.out.result({ ...summary, path: destination }, () =>
      `Saved media ${record.mediaId}${record.interactionId ? ` (message ${record.interactionId})` : ''}, ${file.mimeType ?? 'unknown type'}, ${formatBytes(file.size)}, to ${destination}.`,
    );
  } finally {
    await file.remove();
  }
}

/**
 * Moves `from` to `to` in the same folder. With `replace`, over whatever is there (a rename); else only while nothing
 * is: a hard link fails at once if a file took the name since it was checked. A file system without hard links gets
 * the rename.
 */
async function place(from: string, to: string, replace: boolean): Promise<void> {
  if (!replace) {
    try {
      await link(from, to);
      await rm(from, { force: true });
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new UsageError(`${to} exists already; nothing was written.`, 'Give another -o, or --force to replace it.');
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw error;
    }
  }
  await rename(from, to);
}

async function sha256Of(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}
