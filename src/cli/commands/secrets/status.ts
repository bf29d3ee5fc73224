import type { Context } from '../../context.js';
import { table } from '../../table.js';

export async function run(ctx: Context): Promise<void> {
  const { secretsStatus } = await import('../../../services/secrets/index.js');
  const status = await secretsStatus({ env: ctx.env, databaseUrl: ctx.databaseUrl(), openDefault: () => ctx.secrets() });
  ctx.out.result(status, () => {
    const lines = [`Secrets are kept in ${status.description}.`];
    if (status.keys) {
      if (status.keys.length === 0) lines.push('No secrets stored yet.');
      else {
        lines.push(
          '',
          ...table(
            ['KEY ID', 'SECRETS', ''],
            status.keys.map((k) => [k.keyId, String(k.secrets), k.current ? 'LUMEN_MASTER_KEY' : 'another key: run `lumen secrets rotate-key`']),
          ),
        );
      }
    }
    return lines;
  });
}
