import { createServiceDeps, type ServiceDeps } from '../services/deps.js';
import type { Context } from './context.js';

/** The services' view of the CLI context; progress steps become spinners (or plain lines) on stderr. */
export async function serviceDeps(ctx: Context): Promise<ServiceDeps> {
  return createServiceDeps({
    store: await ctx.store(),
    secrets: (kind) => ctx.secrets(kind),
    graph: (token) => ctx.graph(token),
    now: () => ctx.now(),
    env: ctx.env,
    progress: (label, work, done) => ctx.out.step(label, work, done),
  });
}
