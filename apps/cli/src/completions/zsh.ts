import { walk, type CompletionNode, type CompletionOption } from './tree.js';

/** A zsh single-quoted word. */
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
/** Text inside an _arguments `[explanation]`. */
const explanation = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\[/g, '\\[').replace(/\]/g, '\\]');
/** A message or name inside an _arguments / _describe spec, where `:` separates fields. */
const field = (s: string): string => s.replace(/\\/g, '\\\\').replace(/:/g, '\\:');

export const zshFunctionName = (bin: string, path: string[]): string => ['_' + bin, ...path].join('_').replace(/[^A-Za-z0-9_]/g, '_');

function optionSpec(o: CompletionOption): string {
  const flags = [o.short, o.long].filter((f): f is string => f !== undefined);
  const value = o.takesValue ? `:${field((o.long ?? o.short ?? 'value').replace(/^-+/, ''))}: ` : '';
  const rest = `[${explanation(o.description)}]${value}`;
  if (flags.length === 1) return q(`${flags[0]!}${rest}`);
  return `${q(`(${flags.join(' ')})`)}{${flags.join(',')}}${q(rest)}`;
}

function argumentSpec(term: string): string {
  const variadic = term.endsWith('...>') || term.endsWith('...]');
  const optional = term.startsWith('[');
  return q(`${variadic ? '*' : ''}${optional && !variadic ? ':' : ''}:${field(term)}:_default`);
}

/**
 * A native zsh completion function (#compdef): one function per command. A command with
 * subcommands offers them with _describe (with their descriptions) and hands the rest of the line
 * to the chosen subcommand's function; every command completes its own flags with _arguments.
 */
export function zshScript(root: CompletionNode, bin = root.name): string {
  const fns: string[] = [];
  for (const { path, node } of walk(root)) {
    const name = zshFunctionName(bin, path);
    const specs = node.options.map(optionSpec);
    if (node.children.length === 0) {
      specs.push(...node.arguments.map(argumentSpec));
      fns.push(`${name}() {\n  _arguments -S${specs.map((spec) => ` \\\n    ${spec}`).join('')}\n}`);
      continue;
    }
    const items = node.children.flatMap((c) => [c.name, ...c.aliases].map((w) => `        ${q(`${field(w)}:${c.description}`)}`));
    const cases = node.children.map((c) => `        (${[c.name, ...c.aliases].join('|')}) ${zshFunctionName(bin, [...path, c.name])} && ret=0 ;;`);
    const label = [bin, ...path].join(' ');
    fns.push(`${name}() {
  local curcontext="$curcontext" state state_descr line ret=1
  typeset -A opt_args
  _arguments -C -S \\
    ${[...specs, q(': :->command'), q('*:: :->argument')].join(' \\\n    ')} && ret=0
  case $state in
    (command)
      local -a subcommands
      subcommands=(
${items.join('\n')}
      )
      _describe -t commands ${q(`${label} command`)} subcommands && ret=0
      ;;
    (argument)
      curcontext="\${curcontext%:*:*}:${[bin, ...path].join('-')}-$line[1]:"
      case $line[1] in
${cases.join('\n')}
      esac
      ;;
  esac
  return ret
}`);
  }
  const main = zshFunctionName(bin, []);
  return `#compdef ${bin}
# zsh completion for ${bin}, generated from its command tree by: ${bin} completions zsh
# install: ${bin} completions zsh > "\${fpath[1]}/_${bin}"   (a directory in $fpath; then restart zsh)
#      or: add  source <(${bin} completions zsh)  to ~/.zshrc after compinit

${fns.join('\n\n')}

if [[ $funcstack[1] == ${main} ]]; then
  # autoloaded from $fpath: this file is the body of ${main}
  ${main} "$@"
else
  compdef ${main} ${bin}
fi
`;
}
