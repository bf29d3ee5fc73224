import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { parseLimit } from '../../flag-values.js';
import { table } from '../../table.js';
import { formatBytes } from '../../../services/messages/message-types.js';
import type { list } from './index.js';

export async function run(ctx: Context, options: Options<typeof list>): Promise<void> {
  const limit = parseLimit(options.limit);
  const store = await ctx.store();
  const workspace = await ctx.workspace();
  const media = await store.media.list(workspace.id, limit);
  ctx.out.result(media, () => {
    if (media.length === 0) return 'No media yet: the relay stores what people send (`lumen relay start`), and `lumen send --image FILE` uploads.';
    return table(
      ['MEDIA ID', 'DIRECTION', 'STATE', 'TYPE', 'SIZE', 'MESSAGE', 'RECEIVED/UPLOADED', 'FILE OR LAST ERROR'],
      media.map((m) => [
        m.mediaId,
        m.direction === 'in' ? 'received' : 'uploaded',
        m.state,
        m.mimeType ?? '',
        m.size === null ? '' : formatBytes(m.size),
        m.interactionId ?? '',
        ctx.time.at(m.createdAt),
        m.path ?? (m.lastError ? `error: ${m.lastError.replace(/\s+/g, ' ')}` : ''),
      ]),
    );
  });
}
