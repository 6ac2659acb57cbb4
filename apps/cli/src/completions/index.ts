import { bashScript } from './bash.js';
import { fishScript } from './fish.js';
import type { CompletionNode, Shell } from './tree.js';
import { zshScript } from './zsh.js';

export { fromCommander, SHELLS, walk, type CompletionNode, type CompletionOption, type Shell } from './tree.js';
export { bashScript, fishScript, zshScript };

export function completionScript(shell: Shell, root: CompletionNode): string {
  if (shell === 'bash') return bashScript(root);
  if (shell === 'zsh') return zshScript(root);
  return fishScript(root);
}
