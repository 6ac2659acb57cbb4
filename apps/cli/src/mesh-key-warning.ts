/**
 * Removing a member, or revoking a link that carries the mesh key, does not change the mesh key:
 * there is no re-key until key epochs (a later issue). These are the plain words the verbs print
 * to stderr so nobody believes otherwise (docs/cli.md "Removing members and invites").
 */

/** After `member revoke|remove`. */
export function removedMemberWarning(name: string): string {
  return (
    `claudemesh: warning: ${name} still holds the mesh key. The broker sends ${name} nothing more, but until the mesh key is rotated ` +
    `(key epochs, not built yet) ${name} can open any later @group or * message whose ciphertext reaches it some other way. ` +
    'Direct messages to others stay closed to it.\n'
  );
}

/** After revoking a v1 link, which carries the mesh key itself. */
export const V1_LINK_WARNING =
  'claudemesh: warning: a v1 link carries the mesh key itself: revoking it stops new joins, but whoever has seen the link can open ' +
  '@group and * messages whose ciphertext reaches them, until the mesh key is rotated (key epochs, not built yet).\n';
