import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import type { rotateKey } from './index.js';

export async function run(ctx: Context, options: Options<typeof rotateKey>): Promise<void> {
  const { rotateMasterKey } = await import('../../../services/secrets/index.js');
  const result = await rotateMasterKey({
    env: ctx.env,
    databaseUrl: ctx.databaseUrl(),
    previousKeyEnv: options.previousKeyEnv,
    secretsFile: ctx.paths.secretsFile,
    keyFile: ctx.paths.secretsKeyFile,
  });
  if ('file' in result && result.from === null) {
    ctx.out.result(result, () => `Nothing to re-encrypt: the ${result.unchanged} secret${result.unchanged === 1 ? ' in' : 's in'} ${result.file} ${result.unchanged === 1 ? 'is' : 'are'} under LUMEN_MASTER_KEY already.`);
    return;
  }
  if ('file' in result) {
    ctx.out.result(result, () => [
      `Re-encrypted ${result.rotated} secret${result.rotated === 1 ? '' : 's'} in ${result.file} from the ${result.from} to LUMEN_MASTER_KEY.`,
      `From now on set LUMEN_MASTER_KEY wherever lumen runs with this LUMEN_HOME${result.from === 'key file' ? ` (${ctx.paths.secretsKeyFile} is no longer used)` : ''}.`,
    ]);
    return;
  }
  ctx.out.result(result, () =>
    result.rotated === 0
      ? `Nothing to rotate: all ${result.unchanged} secret${result.unchanged === 1 ? ' is' : 's are'} under key id ${result.keyId} already.`
      : [
          `Re-encrypted ${result.rotated} secret${result.rotated === 1 ? '' : 's'} from key id ${result.previousKeyId} to ${result.keyId}` +
            `${result.unchanged > 0 ? ` (${result.unchanged} were under it already)` : ''}.`,
          'Give every host that shares the database the new LUMEN_MASTER_KEY.',
        ],
  );
}
