import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { serviceDeps } from '../../deps.js';
import { markReceivedRead } from '../../../services/messages/read.js';
import type { read } from './index.js';

export async function run(ctx: Context, options: Options<typeof read>, ref: string): Promise<void> {
  const deps = await serviceDeps(ctx);
  const workspace = await ctx.workspace();
  const { interaction } = await ctx.out.step(
    `Marking ${ref} read`,
    () => markReceivedRead(deps, workspace, ref, options.typing),
    ({ interaction }) => `Marked ${interaction.id} read${options.typing ? ', typing indicator on' : ''}`,
  );
  const from = interaction.fromKind === 'phone' ? `+${interaction.from}` : interaction.from;
  ctx.out.result(
    { id: interaction.id, wamid: interaction.wamid, from: interaction.from, fromKind: interaction.fromKind, read: true, typing: options.typing },
    () => `${from} sees message ${interaction.id} as read${options.typing ? ', and that you are typing' : ''}.`,
  );
}
