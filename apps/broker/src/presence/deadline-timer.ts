/** The longest delay setTimeout honours (about 24.8 days); a longer one fires at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Calls `fire` once, when the clock reaches `at` (epoch ms), even beyond setTimeout's range: a
 * session may live 30 days. Returns a cancel function.
 */
export function atDeadline(at: number, fire: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = (): void => {
    const left = at - Date.now();
    if (left <= 0) fire();
    else timer = setTimeout(arm, Math.min(MAX_TIMEOUT_MS, left));
  };
  timer = setTimeout(arm, Math.min(MAX_TIMEOUT_MS, Math.max(0, at - Date.now())));
  return () => clearTimeout(timer);
}
