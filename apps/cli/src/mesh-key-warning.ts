/**
 * Removing a member, or revoking a link that carries the mesh key, does not change the mesh key.
 * `@group` and `*` move to the mesh scope's key epochs (rotated at the first such send after a
 * removal) once the mesh has one; what was sealed under the mesh key stays open to whoever holds
 * it. These are the plain words the verbs print to stderr (docs/cli.md "Removing members and invites").
 */

/** After `member revoke|remove`. */
export function removedMemberWarning(name: string): string {
  return (
    `claudemesh: warning: ${name} still holds the mesh key. The broker sends ${name} nothing more. Once the mesh has a key epoch, ` +
    `the first @group or * message after this removal rotates it and ${name} cannot open what follows; until then (no epoch yet: ` +
    `no owner or admin has sent one with this CLI) ${name} can open any later @group or * message whose ciphertext reaches it some other way. ` +
    'Direct messages to others stay closed to it.\n'
  );
}

/** After revoking a v1 link, which carries the mesh key itself. */
export const V1_LINK_WARNING =
  'claudemesh: warning: a v1 link carries the mesh key itself: revoking it stops new joins, but whoever has seen the link can open ' +
  '@group and * messages sealed under it whose ciphertext reaches them. Once the mesh has a key epoch (the first @group or * ' +
  'message of an owner or admin makes one), @group and * are sealed under epochs the link does not carry.\n';
