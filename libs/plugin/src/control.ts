/**
 * The control channel between the host and one plugin process (docs/plugins.md §2.1): a Nest
 * microservice over TCP on 127.0.0.1 (default), or over NATS when the host runs with NATS_URL (or
 * its config's `control:` says so). Both sides derive the NATS subjects from here.
 */

/** The three patterns every plugin serves. */
export const CONTROL_PATTERNS = ['plugin.health', 'plugin.status', 'plugin.stop'] as const;
export type ControlPattern = (typeof CONTROL_PATTERNS)[number];

/** A host id is one NATS subject token: no dots, no wildcards, no spaces. */
export const HOST_ID_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;

export type ControlChannel =
  | { transport: 'tcp'; host: string; port: number }
  | { transport: 'nats'; servers: string[]; hostId: string; instance: string };

/**
 * The subject of one pattern of one instance: `claudemesh.ctl.<host id>.<instance>.<pattern>`.
 * Per host and per instance, so two hosts (or two instances) on one NATS server never answer each
 * other, and a host can tell any process, wherever it runs, where to listen from two names.
 */
export function controlSubject(hostId: string, instance: string, pattern: ControlPattern): string {
  return `claudemesh.ctl.${hostId}.${instance}.${pattern}`;
}

/**
 * Checks a NATS server list (`nats://host:port`, several separated by commas) and returns it as an
 * array; throws an Error saying what to write instead.
 */
export function parseNatsServers(value: string): string[] {
  const servers = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (servers.length === 0) throw new Error('no NATS server given: write nats://host:port');
  for (const s of servers) {
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      throw new Error(`${s} is not a URL: write nats://host:port`);
    }
    if (url.protocol !== 'nats:') throw new Error(`${s}: expected nats://host:port`);
    // The NATS client would ignore them silently; refuse rather than connect without them.
    if (url.username || url.password) throw new Error(`${url.protocol}//${url.host}: credentials in the URL are not supported by the plugin control channel yet; use a NATS server (or account) that lets this host connect without them`);
    if (url.pathname.replace(/^\/$/, '') || url.search || url.hash) throw new Error(`${s}: expected nats://host:port, without a path or query`);
  }
  return servers;
}

/** The env a plugin process is started with for its control channel (docs/plugins.md §2.3). */
export function controlEnv(channel: ControlChannel): Record<string, string> {
  if (channel.transport === 'tcp') return { CLAUDEMESH_PLUGIN_CONTROL: `tcp://${channel.host}:${channel.port}` };
  return { CLAUDEMESH_PLUGIN_CONTROL: channel.servers.join(','), CLAUDEMESH_PLUGIN_HOST_ID: channel.hostId };
}

/** The plugin side: reads the control channel from the env the host set; throws an Error saying what is wrong. */
export function controlFromEnv(env: NodeJS.ProcessEnv, instance: string): ControlChannel {
  const value = env['CLAUDEMESH_PLUGIN_CONTROL'] ?? 'tcp://127.0.0.1:0';
  if (value.startsWith('tcp://')) {
    const url = new URL(value);
    return { transport: 'tcp', host: url.hostname, port: Number(url.port || 0) };
  }
  if (value.startsWith('nats://')) {
    const hostId = env['CLAUDEMESH_PLUGIN_HOST_ID'] ?? '';
    if (!HOST_ID_RE.test(hostId)) throw new Error(`CLAUDEMESH_PLUGIN_HOST_ID must be set with a nats:// control channel (${HOST_ID_RE.source}); it is ${hostId ? `"${hostId}"` : 'unset'} — start the plugin from a claudemesh plugin host`);
    if (!/^[a-z][a-z0-9-]{0,47}$/.test(instance)) throw new Error(`instance "${instance}" cannot name a NATS subject: expected ^[a-z][a-z0-9-]{0,47}$`);
    return { transport: 'nats', servers: parseNatsServers(value), hostId, instance };
  }
  throw new Error(`control channel ${value.split('://')[0]}:// is not supported by this plugin runtime: expected tcp://host:port or nats://host:port`);
}
