import { flagWords, walk, type CompletionNode } from './tree.js';

/** A bash single-quoted word. */
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * A bash completion script: `_claudemesh` follows COMP_WORDS through the subcommands (skipping
 * flags and the values of flags that take one), then offers the flags of the command reached when
 * the word starts with `-`, else its subcommands. A flag's value and a leaf's positional arguments
 * fall back to file names (compopt -o default).
 */
export function bashScript(root: CompletionNode, bin = root.name): string {
  const nodes = walk(root);
  const fn = `_${bin.replace(/[^A-Za-z0-9_]/g, '_')}`;
  const descend: string[] = [];
  const valued: string[] = [];
  const offers: string[] = [];
  for (const { path, node } of nodes) {
    const key = path.join(' ');
    for (const child of node.children) {
      const target = [...path, child.name].join(' ');
      descend.push(`      ${[child.name, ...child.aliases].map((w) => q(`${key}:${w}`)).join('|')}) path=${q(target)} ;;`);
    }
    const takes = node.options.filter((o) => o.takesValue).flatMap((o) => [o.long, o.short].filter((f): f is string => f !== undefined));
    if (takes.length > 0) valued.push(`            ${takes.map((f) => q(`${key}:${f}`)).join('|')}) skip=1 ;;`);
    const words = node.children.flatMap((c) => [c.name, ...c.aliases]);
    const positional = node.children.length === 0 && node.arguments.length > 0 ? 1 : 0;
    offers.push(`    ${q(key)}) words=${q(words.join(' '))} flags=${q(flagWords(node).join(' '))} files=${positional} ;;`);
  }
  return `# bash completion for ${bin}, generated from its command tree by: ${bin} completions bash
# install: ${bin} completions bash > ~/.local/share/bash-completion/completions/${bin}
#      or: add  source <(${bin} completions bash)  to ~/.bashrc

${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path='' word='' words='' flags='' files=0 skip=0 endopts=0 i
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    # --flag=value arrives split at '=' (COMP_WORDBREAKS): the value follows
    if [[ $word == '=' ]]; then skip=1; continue; fi
    if ((skip)); then skip=0; continue; fi
    if ((!endopts)); then
      case "$word" in
        --) endopts=1; continue ;;
        --*=*) continue ;;
        -*)
          case "$path:$word" in
${valued.join('\n')}
          esac
          continue ;;
      esac
    fi
    case "$path:$word" in
${descend.join('\n')}
    esac
  done
  if ((skip)) || [[ $cur == '=' ]]; then
    # the value of a flag
    compopt -o default 2>/dev/null
    return 0
  fi
  case "$path" in
${offers.join('\n')}
  esac
  if [[ $cur == -* ]] && ((!endopts)); then
    mapfile -t COMPREPLY < <(compgen -W "$flags" -- "$cur")
  else
    mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
    if ((files)) && ((\${#COMPREPLY[@]} == 0)); then compopt -o default 2>/dev/null; fi
  fi
  return 0
}

complete -F ${fn} ${bin}
`;
}
