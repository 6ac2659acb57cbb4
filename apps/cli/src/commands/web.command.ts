import { createApiKey, createWebSignIn, httpBaseOf, revokeApiKey, type ApiKeyCapability } from '@claudemesh/core';
import { spawn } from 'node:child_process';
import { Command, Option } from 'nest-commander';
import { CliError, EXIT, MeshVerb, print, selectMesh, type CommonOptions } from '../context.js';
import { Gated } from '../gated.js';
import { humanArg, topicListArg, ttlArg } from '../rest/args.js';
import { signedCall as signed } from '../rest/signed-call.js';

interface WebOptions extends CommonOptions {
  ttl?: number;
  topics?: string[];
  readOnly?: boolean;
  print?: boolean;
  human?: string;
  admin?: boolean;
}

/** How long the key of a web sign-in lives unless --ttl says otherwise. */
const DEFAULT_KEY_TTL_S = 7 * 86_400;
/** How long the link itself may be used (once). */
const LINK_TTL_S = 600;

/** The platform's "open this URL" command, or null where there is no desktop to open it on. */
function opener(): [string, string[]] | null {
  if (process.platform === 'darwin') return ['open', []];
  if (process.platform === 'win32') return ['cmd', ['/c', 'start', '""']];
  return process.env.DISPLAY || process.env.WAYLAND_DISPLAY ? ['xdg-open', []] : null;
}

function openInBrowser(url: string): boolean {
  const how = opener();
  if (!how) return false;
  try {
    const child = spawn(how[0], [...how[1], url], { stdio: 'ignore', detached: true });
    child.on('error', () => undefined);
    child.unref();
    return true;
  } catch {
    return false;
  }
}

/**
 * `web`: signs a browser in to the web app as you (docs/web.md). Makes a narrow API key (read and
 * send, 7 days, optionally fewer topics or read-only), seals it under a one-time code that only the
 * link's fragment carries (docs/protocol.md §8.5), and opens the link. The page's "Sign out"
 * revokes the key; so does `claudemesh apikey revoke <id>`.
 */
@Gated<WebOptions>({ resource: 'apikey', verb: 'create', peers: (_a, o) => [o.human] })
@Command({ name: 'web', description: 'Open the web app signed in as you (a one-time link with a narrow key the page revokes on sign-out)' })
export class WebCommand extends MeshVerb<WebOptions> {
  async run(_args: string[], options: WebOptions): Promise<void> {
    const mesh = selectMesh(options.mesh);
    const ttl = options.ttl ?? DEFAULT_KEY_TTL_S;
    if (options.admin && options.human) throw new CliError('--admin signs the browser in as you; a member enrolled with --human holds no admin rights to give', EXIT.usage);
    const capabilities: ApiKeyCapability[] = [...(options.readOnly ? ['read' as const] : ['read' as const, 'send' as const]), ...(options.admin ? ['admin' as const] : [])];
    const key = await signed(
      mesh,
      (id) => createApiKey(mesh.broker_url, id, mesh.mesh_id, {
        label: `web sign-in ${new Date().toISOString().slice(0, 16).replace('T', ' ')}`,
        capabilities,
        expires_in_s: ttl,
        ...(options.topics ? { topics: options.topics } : {}),
        ...(options.human ? { human: options.human } : {}),
      }),
      { E_FORBIDDEN: `only an owner or admin of "${mesh.mesh_name}" ${options.admin ? 'gives a browser the admin capability' : 'enrols humans'} (you are ${mesh.role})` },
    );
    let signIn;
    try {
      signIn = await createWebSignIn(mesh.broker_url, key.secret, { ttlS: Math.min(LINK_TTL_S, ttl) });
    } catch (error) {
      // A key nobody can use should not stay behind.
      await signed(mesh, (id) => revokeApiKey(mesh.broker_url, id, mesh.mesh_id, key.id)).catch(() => undefined);
      throw error;
    }
    const opened = !options.print && !options.json && openInBrowser(signIn.link);
    const who = options.human ? `${key.display_name} (a new human member)` : key.display_name;
    print(options.json ?? false, { link: signIn.link, link_expires_at: signIn.expires_at, key_id: key.id, key_expires_at: key.expires_at, display_name: key.display_name, capabilities: key.capabilities, topics: key.topics, opened }, signIn.link);
    if (!options.json) {
      process.stderr.write(
        `claudemesh: ${opened ? 'opened' : 'open'} this one-time link ${opened ? 'in your browser ' : ''}to sign in to ${httpBaseOf(mesh.broker_url)} as ${who} ` +
          `(usable once, until ${new Date(signIn.expires_at).toISOString()}).\n` +
          `  key ${key.id}: ${key.capabilities.join(', ')}${key.topics ? ` on ${key.topics.map((t) => `#${t}`).join(', ')}` : ''}, expires ${key.expires_at ? new Date(key.expires_at).toISOString() : 'never'}; ` +
          `"Sign out" in the page revokes it, as does: claudemesh apikey revoke ${key.id}\n` +
          (options.human
            ? ''
            : `  your member key stays in this CLI, so end-to-end encrypted topics show sealed in that browser; ` +
              `a browser with a key of its own: claudemesh web --human <name> (owner/admin)\n`),
      );
    }
  }

  @Option({ flags: '--ttl <lifetime>', description: 'how long the browser stays signed in: seconds, or 90m, 12h, 30d (default 7d)' })
  parseTtl(value: string): number {
    return ttlArg(value);
  }

  @Option({ flags: '--topics <list>', description: 'limit the browser to these topics, e.g. general,deploys' })
  parseTopics(value: string): string[] {
    return topicListArg(value);
  }

  @Option({ flags: '--read-only', description: 'the browser may read but not post' })
  parseReadOnly(): boolean {
    return true;
  }

  @Option({ flags: '--human <name>', description: 'owner/admin: enrol a new human member with this name and sign the browser in as them' })
  parseHuman(value: string): string {
    return humanArg(value);
  }

  @Option({ flags: '--admin', description: "owner/admin: the browser's key also has the admin capability (the dashboard's delivery health; managing API keys)" })
  parseAdmin(): boolean {
    return true;
  }

  @Option({ flags: '--print', description: 'print the link only; do not start a browser' })
  parsePrint(): boolean {
    return true;
  }
}
