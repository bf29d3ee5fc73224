import type { Context } from '../../context.js';
import { table } from '../../table.js';

export async function run(ctx: Context): Promise<void> {
  const store = await ctx.store();
  const numbers = new Map<string, number>();
  for (const integration of await store.integrations.listAll()) {
    numbers.set(integration.workspaceId, (numbers.get(integration.workspaceId) ?? 0) + 1);
  }
  const workspaces = (await store.workspaces.list()).map((w) => ({
    name: w.name,
    numbers: numbers.get(w.id) ?? 0,
    createdAt: w.createdAt,
  }));
  ctx.out.result(workspaces, () => {
    if (workspaces.length === 0) {
      return 'No workspaces yet. `lumen whatsapp connect` creates one ("default", or the one --workspace names).';
    }
    return table(
      ['NAME', 'NUMBERS', 'CREATED'],
      workspaces.map((w) => [w.name, String(w.numbers), ctx.time.at(w.createdAt)]),
    );
  });
}
