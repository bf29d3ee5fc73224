import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { UsageError } from '../../../errors.js';
import { normalizeSender, parseLimit, parseSince } from '../../flag-values.js';
import { table } from '../../table.js';
import { outboundPreview, outboundSummary } from '../../../services/messages/summary.js';
import type { Interaction, OutboundMessage } from '../../../store/types.js';
import type { list } from './index.js';

type Direction = 'in' | 'out';

/** One row of `messages list`: a received message or a sent (or held) one, with `direction`. */
type Listed =
  | ({ direction: 'in' } & Interaction)
  | ({ direction: 'out'; text: string } & ReturnType<typeof outboundSummary>);

export async function run(ctx: Context, options: Options<typeof list>): Promise<void> {
  const limit = parseLimit(options.limit);
  const since = options.since ? parseSince(options.since, ctx.now()) : undefined;
  const directions = directionsOf(options);
  const store = await ctx.store();
  const workspace = await ctx.workspace();
  const received: Listed[] = directions.includes('in')
    ? (
        await store.inbox.listInteractions({
          workspaceId: workspace.id,
          from: options.from ? normalizeSender(options.from) : undefined,
          since,
          limit,
        })
      ).map((i) => ({ direction: 'in' as const, ...i }))
    : [];
  const sent: Listed[] = directions.includes('out')
    ? (await store.outbound.list({ workspaceId: workspace.id, to: options.to ? normalizeSender(options.to, '--to') : undefined, since, limit })).map(
        (m) => ({ direction: 'out' as const, ...outboundSummary(m), text: outboundPreview(m) }),
      )
    : [];
  const messages = [...received, ...sent].sort((a, b) => timeOf(b).localeCompare(timeOf(a))).slice(0, limit);

  ctx.out.result(messages, () => {
    if (messages.length === 0) {
      const filtered = options.from !== undefined || options.to !== undefined || since !== undefined || options.direction !== undefined;
      return filtered
        ? 'No messages match these filters (--from, --to, --since, --direction). `lumen messages list` alone shows the newest.'
        : 'No messages stored yet. Start the relay with `lumen relay start` to receive some; `lumen send` sends.';
    }
    return table(
      ['TIME', 'DIR', 'CONTACT', 'NAME', 'TYPE', 'TEXT OR STATE', 'ID'],
      messages.map((m) =>
        m.direction === 'in'
          ? [
              ctx.time.at(m.receivedAt),
              '← in',
              m.fromKind === 'phone' ? `+${m.from}` : m.from,
              m.contactName ?? '',
              m.type,
              (m.deletedAt ? '[deleted] ' : '') + oneLine(m.text) + ((m.previousTexts?.length ?? 0) > 0 ? ' (edited)' : ''),
              m.id,
            ]
          : [ctx.time.at(m.createdAt), '→ out', m.recipientKind === 'phone' ? `+${m.to}` : m.to, '', m.kind, `${m.state}${m.text ? ` · ${oneLine(m.text)}` : ''}`, m.id],
      ),
      { shrink: 5 },
    );
  });
}

/** --direction in|out (default both); --from alone means received messages, --to alone sent ones. */
function directionsOf(options: Options<typeof list>): Direction[] {
  const direction = options.direction?.trim().toLowerCase();
  if (direction !== undefined && direction !== 'in' && direction !== 'out' && direction !== 'both') {
    throw new UsageError(`--direction takes in, out or both; got "${options.direction}".`);
  }
  if (options.from !== undefined && options.to !== undefined) {
    throw new UsageError('Give --from (received messages) or --to (sent ones), not both.', 'Use --direction to choose, and one of them to filter.');
  }
  if (options.from !== undefined && direction === 'out') throw new UsageError('--from filters received messages: it does not go with --direction out (use --to).');
  if (options.to !== undefined && direction === 'in') throw new UsageError('--to filters sent messages: it does not go with --direction in (use --from).');
  if (direction === 'in' || (direction === undefined && options.from !== undefined)) return ['in'];
  if (direction === 'out' || (direction === undefined && options.to !== undefined)) return ['out'];
  return ['in', 'out'];
}

function timeOf(m: Listed): string {
  return m.direction === 'in' ? m.receivedAt : m.createdAt;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ');
}

