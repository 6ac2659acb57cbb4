import { walk, type CompletionNode } from './tree.js';

/** A fish single-quoted word. */
const q = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
/** A word as is when it needs no quoting (command names), else quoted. */
const word = (s: string): string => (/^[A-Za-z0-9_.-]+$/.test(s) ? s : q(s));

/**
 * fish completions: the first word with `__fish_use_subcommand`; deeper words and flags with
 * `__<bin>_at <path…>`, which follows the command line through the subcommands the same way the
 * bash function does (skipping flags and the values of flags that take one).
 */
export function fishScript(root: CompletionNode, bin = root.name): string {
  const fn = `__${bin.replace(/[^A-Za-z0-9_]/g, '_')}`;
  const keys: string[] = [];
  const vals: string[] = [];
  const valued: string[] = [];
  const lines: string[] = [];
  for (const { path, node } of walk(root)) {
    const key = path.join(' ');
    const at = path.length === 0 ? '__fish_use_subcommand' : `${fn}_at ${path.map(word).join(' ')}`;
    for (const child of node.children) {
      for (const w of [child.name, ...child.aliases]) {
        keys.push(q(`${key}:${w}`));
        vals.push(q([...path, child.name].join(' ')));
        lines.push(`complete -c ${bin} -n ${q(at)} -a ${word(w)} -d ${q(child.description)}`);
      }
    }
    for (const o of node.options) {
      if (o.takesValue) valued.push(...[o.long, o.short].filter((f): f is string => f !== undefined).map((f) => q(`${key}:${f}`)));
      const flags = [o.short ? `-s ${word(o.short.replace(/^-/, ''))}` : '', o.long ? `-l ${word(o.long.replace(/^--/, ''))}` : ''].filter(Boolean).join(' ');
      lines.push(`complete -c ${bin} -n ${q(at)} ${flags}${o.takesValue ? ' -x' : ''} -d ${q(o.description)}`);
    }
    if (node.children.length === 0 && node.arguments.length > 0) lines.push(`complete -c ${bin} -n ${q(at)} -F`);
  }
  return `# fish completion for ${bin}, generated from its command tree by: ${bin} completions fish
# install: ${bin} completions fish > ~/.config/fish/completions/${bin}.fish

set -g ${fn}_child_keys ${keys.join(' ')}
set -g ${fn}_child_paths ${vals.join(' ')}
set -g ${fn}_valued ${valued.join(' ')}

# The subcommand path the command line has reached, e.g. "mesh invite".
function ${fn}_path
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l path ''
    set -l skip 0
    set -l endopts 0
    for t in $tokens
        if test $skip = 1
            set skip 0
            continue
        end
        if test $endopts = 0
            switch $t
                case '--'
                    set endopts 1
                    continue
                case '--*=*'
                    continue
                case '-*'
                    if contains -- "$path:$t" $${fn}_valued
                        set skip 1
                    end
                    continue
            end
        end
        set -l i (contains -i -- "$path:$t" $${fn}_child_keys)
        if test -n "$i"
            set path $${fn}_child_paths[$i]
        end
    end
    echo $path
end

function ${fn}_at
    set -l path (${fn}_path)
    test "$path" = "$argv"
end

complete -c ${bin} -f
${lines.join('\n')}
`;
}
