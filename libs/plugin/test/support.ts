import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PluginHost, loadHostConfig, type InstanceStatus } from '../src/index.js';

/** Shared by the plugin host's specs: real plugin processes from ./fixtures. Timeouts here only catch a hang. */
export const FIXTURES = fileURLToPath(new URL('./fixtures', import.meta.url));
export const HOST_VERSION = '0.1.0';
export const HANG_MS = 60_000;

export interface Harness {
  dir: string;
  yamlFile(text: string): string;
  /** A host of this config; `env` is where it reads NATS_URL (none by default: TCP unless the config says otherwise). */
  host(text: string, lines?: string[], env?: NodeJS.ProcessEnv): PluginHost;
  /** Stops every host made since the last call (afterEach). */
  stopHosts(): Promise<void>;
  /** Removes the directory (afterAll). */
  remove(): void;
}

export function harness(): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'cmh-plugin-host-'));
  let files = 0;
  const hosts: PluginHost[] = [];
  const yamlFile = (text: string): string => {
    const file = join(dir, `host-${++files}.yaml`);
    writeFileSync(file, text);
    return file;
  };
  return {
    dir,
    yamlFile,
    host(text, lines = [], env = {}) {
      const h = new PluginHost({ loaded: loadHostConfig(yamlFile(text)), hostVersion: HOST_VERSION, pluginsDir: FIXTURES, home: dir, log: (l) => lines.push(l), env });
      hosts.push(h);
      return h;
    },
    stopHosts: async () => {
      await Promise.all(hosts.splice(0).map((h) => h.stop()));
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export const codeAndMessage = async (f: () => unknown): Promise<{ code?: string; message: string }> => {
  try {
    await f();
    return { message: 'no error' };
  } catch (error) {
    return { code: (error as { code?: string }).code, message: (error as Error).message };
  }
};

export async function until(ok: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + HANG_MS;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const one = (h: PluginHost): InstanceStatus => h.status()[0]!;
