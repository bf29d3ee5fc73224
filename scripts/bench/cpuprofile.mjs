// Self and inclusive time per function in a V8 .cpuprofile (node --cpu-prof), as shares of the sampled time: on a
// busy machine the proportions mean something, the absolute times do not.
//
//   node scripts/bench/cpuprofile.mjs FILE.cpuprofile [--top 40] [--match changeMarker,DeliveryLog]
//     --top N      the N functions with the most inclusive time (default 40), then the N with the most self time
//     --match a,b  also the functions whose name or file contains one of these, whatever their rank
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

const argv = process.argv.slice(2);
const file = argv.find((a) => !a.startsWith('--') && argv[argv.indexOf(a) - 1] !== '--top' && argv[argv.indexOf(a) - 1] !== '--match');
if (!file) {
  process.stderr.write('usage: node scripts/bench/cpuprofile.mjs FILE.cpuprofile [--top N] [--match a,b]\n');
  process.exit(2);
}
const option = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const top = Number(option('--top') ?? 40);
const matches = (option('--match') ?? '').split(',').filter(Boolean);

const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const keyOf = (n) => {
  const { functionName, url, lineNumber } = n.callFrame;
  const where = url ? `${relative(process.cwd(), url.replace(/^file:\/\//, ''))}:${lineNumber + 1}` : '';
  return `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
};

const self = new Map();
const inclusive = new Map();
let total = 0;
const deltas = profile.timeDeltas ?? [];
for (let i = 0; i < profile.samples.length; i += 1) {
  // A sample's time is the gap to the next one (the last sample gets the mean gap).
  const dt = deltas[i + 1] ?? total / Math.max(1, i);
  total += dt;
  let node = byId.get(profile.samples[i]);
  const leaf = keyOf(node);
  self.set(leaf, (self.get(leaf) ?? 0) + dt);
  const seen = new Set();
  while (node) {
    const key = keyOf(node);
    if (!seen.has(key)) {
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + dt);
    }
    node = byId.get(parent.get(node.id));
  }
}

const pct = (t) => `${((100 * t) / total).toFixed(1).padStart(5)} %`;
const idle = (self.get('(idle)') ?? 0) + (self.get('(program)') ?? 0);
process.stdout.write(`${file}: ${(total / 1e6).toFixed(2)} s sampled, ${pct(self.get('(idle)') ?? 0)} idle, ${pct(self.get('(garbage collector)') ?? 0)} GC\n`);
process.stdout.write(`shares below are of the busy time (sampled less idle and (program): ${((total - idle) / 1e6).toFixed(2)} s)\n`);
const busy = total - idle;
const share = (t) => `${((100 * t) / busy).toFixed(1).padStart(5)} %`;
const table = (title, rows) => {
  process.stdout.write(`\n${title}\n   self  inclusive  function\n`);
  for (const [key] of rows) process.stdout.write(`${share(self.get(key) ?? 0)} ${share(inclusive.get(key) ?? 0)}  ${key}\n`);
};
const skip = (key) => key.startsWith('(root)') || key.startsWith('(idle)') || key.startsWith('(program)');
table(`top ${top} by inclusive time`, [...inclusive].filter(([k]) => !skip(k)).sort((a, b) => b[1] - a[1]).slice(0, top));
table(`top ${top} by self time`, [...self].filter(([k]) => !skip(k)).sort((a, b) => b[1] - a[1]).slice(0, top));
if (matches.length > 0) {
  table(`matching ${matches.join(', ')}`, [...inclusive].filter(([k]) => matches.some((m) => k.includes(m))).sort((a, b) => b[1] - a[1]));
}
