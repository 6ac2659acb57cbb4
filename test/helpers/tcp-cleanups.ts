import { afterEach, beforeAll, expect } from 'vitest';

const tcpHandles = (): number => process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP')).length;

/**
 * Registers, for the calling test file, the cleanups each test pushes (run in reverse order even
 * when the test failed) and the check that no TCP handle is left after them. Client sockets see their
 * peer's close a moment later, so the check waits; the deadline only catches a leak, it measures nothing.
 */
export function closeEverythingAfterEach(): Array<() => Promise<unknown>> {
  const cleanups: Array<() => Promise<unknown>> = [];
  let tcpBefore = 0;
  beforeAll(() => {
    tcpBefore = tcpHandles();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    for (let waited = 0; tcpHandles() > tcpBefore && waited < 15_000; waited += 25) await new Promise((r) => setTimeout(r, 25));
    expect(tcpHandles(), 'TCP handles left open').toBeLessThanOrEqual(tcpBefore);
  });
  return cleanups;
}
