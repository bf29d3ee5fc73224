// tsc compiles only .ts: copy the SQL migrations and the checkpoint thread's script next to the compiled store code,
// and the console's script and stylesheet next to the compiled console (served from dist/, nothing fetched at run
// time).
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const copies = [
  ['store', (file) => file.endsWith('.cjs')],
  [join('store', 'migrations'), (file) => file.endsWith('.sql')],
  [join('store', 'pg', 'migrations'), (file) => file.endsWith('.sql')],
  [join('relay', 'console', 'assets'), (file) => /\.(js|css|svg)$/.test(file)],
];
for (const [dir, wanted] of copies) {
  const from = join(root, 'src', dir);
  const to = join(root, 'dist', dir);
  mkdirSync(to, { recursive: true });
  for (const file of readdirSync(from)) {
    if (wanted(file)) cpSync(join(from, file), join(to, file));
  }
}
