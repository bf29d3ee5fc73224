// tsc compiles only .ts: copy the SQL migrations next to the compiled store code.
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const from = join(root, 'src', 'store', 'migrations');
const to = join(root, 'dist', 'store', 'migrations');
mkdirSync(to, { recursive: true });
for (const file of readdirSync(from)) {
  if (file.endsWith('.sql')) cpSync(join(from, file), join(to, file));
}
