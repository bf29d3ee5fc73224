import type { Context } from '../../context.js';
import { UsageError } from '../../../errors.js';
import { commands, globalFlags } from '../index.js';
import type { CommandDeclaration, Flags } from '../../declare.js';

/** The command tree as completion sees it: names, descriptions, flags (and whether each takes a value). */
interface FlagInfo {
  long: string;
  short: string | undefined;
  description: string;
  takesValue: boolean;
}

interface Node {
  name: string;
  description: string;
  flags: FlagInfo[];
  /** A noun's verbs; empty for a command that runs. */
  verbs: Node[];
}

function flagsOf(flags: Flags): FlagInfo[] {
  return Object.values(flags).map((flag) => ({
    long: flag.name,
    short: /(?:^|[\s,|])(-\w)(?=[\s,|]|$)/.exec(flag.flags)?.[1],
    description: flag.description,
    takesValue: flag.kind !== 'boolean' && flag.kind !== 'negatable',
  }));
}

const leaf = (declaration: CommandDeclaration): Node => ({
  name: declaration.name,
  description: declaration.description,
  flags: flagsOf(declaration.flags),
  verbs: [],
});

/** Every noun's verbs are loaded here (the only command that needs the whole tree). */
export async function commandTree(): Promise<Node[]> {
  return Promise.all(
    commands.map(async (entry) =>
      'run' in entry ? leaf(entry) : { name: entry.name, description: entry.description, flags: [], verbs: (await entry.verbs()).map(leaf) },
    ),
  );
}

const HELP: FlagInfo = { long: '--help', short: '-h', description: 'show help', takesValue: false };

function globals(): FlagInfo[] {
  return [...flagsOf(globalFlags), HELP];
}

// ---------------------------------------------------------------------------------------------------------------

const words = (flags: FlagInfo[]) => flags.flatMap((f) => (f.short ? [f.long, f.short] : [f.long]));

export function bashScript(tree: Node[]): string {
  const global = globals();
  const valueFlags = new Set<string>();
  for (const f of global) if (f.takesValue) words([f]).forEach((w) => valueFlags.add(w));
  for (const node of tree) for (const c of [node, ...node.verbs]) for (const f of c.flags) if (f.takesValue) words([f]).forEach((w) => valueFlags.add(w));
  const cases: string[] = [`    "/") candidates="${[...tree.map((n) => n.name), ...words(global), '--version'].join(' ')}" ;;`];
  for (const node of tree) {
    if (node.verbs.length === 0) {
      cases.push(`    "${node.name}/"*) candidates="${words([...node.flags, ...global]).join(' ')}" ;;`);
      continue;
    }
    cases.push(`    "${node.name}/") candidates="${[...node.verbs.map((v) => v.name), ...words(global)].join(' ')}" ;;`);
    for (const verb of node.verbs) cases.push(`    "${node.name}/${verb.name}") candidates="${words([...verb.flags, ...global]).join(' ')}" ;;`);
  }
  return `# lumen completion for bash. Load it with: source <(lumen completion bash)
_lumen() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local noun="" verb="" word i
  case " ${[...valueFlags].join(' ')} " in
    *" $prev "*) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
  esac
  for (( i = 1; i < COMP_CWORD; i++ )); do
    word="\${COMP_WORDS[i]}"
    case " ${[...valueFlags].join(' ')} " in *" $word "*) (( i++ )); continue ;; esac
    case "$word" in -*) continue ;; esac
    if [[ -z "$noun" ]]; then noun="$word"; elif [[ -z "$verb" ]]; then verb="$word"; fi
  done
  local candidates=""
  case "$noun/$verb" in
${cases.join('\n')}
  esac
  COMPREPLY=( $(compgen -W "$candidates" -- "$cur") )
}
complete -o default -F _lumen lumen
`;
}

/** `name:description` for zsh's _describe (colons in names escaped, quotes made safe). */
const zshItem = (name: string, description: string) => `'${name.replace(/:/g, '\\:')}:${description.replace(/'/g, "'\\''")}'`;

export function zshScript(tree: Node[]): string {
  const global = globals();
  const flagItems = (flags: FlagInfo[]) => flags.flatMap((f) => words([f]).map((w) => zshItem(w, f.description)));
  const valueFlags = new Set<string>();
  for (const f of global) if (f.takesValue) words([f]).forEach((w) => valueFlags.add(w));
  for (const node of tree) for (const c of [node, ...node.verbs]) for (const f of c.flags) if (f.takesValue) words([f]).forEach((w) => valueFlags.add(w));
  const cases: string[] = [`    "/") items=(${tree.map((n) => zshItem(n.name, n.description)).join(' ')} ${flagItems(global).join(' ')}) ;;`];
  for (const node of tree) {
    if (node.verbs.length === 0) {
      cases.push(`    "${node.name}/"*) items=(${flagItems([...node.flags, ...global]).join(' ')}) ;;`);
      continue;
    }
    cases.push(`    "${node.name}/") items=(${node.verbs.map((v) => zshItem(v.name, v.description)).join(' ')} ${flagItems(global).join(' ')}) ;;`);
    for (const verb of node.verbs) cases.push(`    "${node.name}/${verb.name}") items=(${flagItems([...verb.flags, ...global]).join(' ')}) ;;`);
  }
  return `#compdef lumen
# lumen completion for zsh. Install: lumen completion zsh > "\${fpath[1]}/_lumen", then restart zsh.
_lumen() {
  local noun="" verb="" word i
  local -a items
  local value_flags=" ${[...valueFlags].join(' ')} "
  if [[ "$value_flags" == *" \${words[CURRENT-1]} "* ]]; then _files; return; fi
  for (( i = 2; i < CURRENT; i++ )); do
    word="\${words[i]}"
    if [[ "$value_flags" == *" $word "* ]]; then (( i++ )); continue; fi
    [[ "$word" == -* ]] && continue
    if [[ -z "$noun" ]]; then noun="$word"; elif [[ -z "$verb" ]]; then verb="$word"; fi
  done
  case "$noun/$verb" in
${cases.join('\n')}
  esac
  _describe -t lumen 'lumen' items
}
compdef _lumen lumen
`;
}

const fishQuote = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export function fishScript(tree: Node[]): string {
  const lines = ['# lumen completion for fish. Install: lumen completion fish > ~/.config/fish/completions/lumen.fish', 'complete -c lumen -f'];
  const flagLine = (condition: string | null, f: FlagInfo) =>
    `complete -c lumen${condition ? ` -n ${fishQuote(condition)}` : ''} -l ${f.long.slice(2)}${f.short ? ` -s ${f.short.slice(1)}` : ''}${f.takesValue ? ' -r -F' : ''} -d ${fishQuote(f.description)}`;
  for (const f of globals()) lines.push(flagLine(null, f));
  const nouns = tree.map((n) => n.name).join(' ');
  for (const node of tree) {
    lines.push(`complete -c lumen -n ${fishQuote(`not __fish_seen_subcommand_from ${nouns}`)} -a ${node.name} -d ${fishQuote(node.description)}`);
    if (node.verbs.length === 0) {
      for (const f of node.flags) lines.push(flagLine(`__fish_seen_subcommand_from ${node.name}`, f));
      continue;
    }
    const verbs = node.verbs.map((v) => v.name).join(' ');
    for (const verb of node.verbs) {
      lines.push(
        `complete -c lumen -n ${fishQuote(`__fish_seen_subcommand_from ${node.name}; and not __fish_seen_subcommand_from ${verbs}`)} -a ${verb.name} -d ${fishQuote(verb.description)}`,
      );
      for (const f of verb.flags) lines.push(flagLine(`__fish_seen_subcommand_from ${node.name}; and __fish_seen_subcommand_from ${verb.name}`, f));
    }
  }
  return `${lines.join('\n')}\n`;
}

export async function run(ctx: Context, _options: Record<string, never>, shell: string): Promise<void> {
  const render = { bash: bashScript, zsh: zshScript, fish: fishScript }[shell];
  if (!render) throw new UsageError(`lumen completion takes bash, zsh or fish; got "${shell}".`);
  const script = render(await commandTree());
  // The script itself is the result, also with --json (a shell reads it).
  ctx.io.stdout.write(script);
}
