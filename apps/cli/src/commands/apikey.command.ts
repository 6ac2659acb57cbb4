import { createApiKey, httpBaseOf, listApiKeys, revokeApiKey, type ApiKeyCapability } from '@claudemesh/core';
import { Command, CommandRunner, Option, SubCommand } from 'nest-commander';
import { CliError, EXIT, MeshVerb, print, selectMesh, type CommonOptions } from '../context.js';
import { Gated } from '../gated.js';
import { capsArg, humanArg, keyIdArg, topicListArg, ttlArg } from '../rest/args.js';
import { EPHEMERAL_LABEL } from '../rest/ephemeral-key.js';
import { signedCall as signed } from '../rest/signed-call.js';
import { keyLine, keyState } from '../rest/topic-format.js';

/**
 * `apikey …`: bearer keys for REST and SSE (docs/topics.md "API keys"), managed with your member key
 * over the signed routes. A key acts as one member of one mesh; the secret is shown once.
 */

interface CreateOptions extends CommonOptions {
  label?: string;
  caps?: ApiKeyCapability[];
  topics?: string[];
  ttl?: number;
  human?: string;
}

@Gated<CreateOptions>({ resource: 'apikey', verb: 'create', peers: (_a, o) => [o.human] })
@SubCommand({ name: 'create', description: 'Create an API key for REST/SSE (yours, or with --human a new REST-only human member); shown once' })
export class ApiKeyCreateCommand extends MeshVerb<CreateOptions> {
  async run(_args: string[], options: CreateOptions): Promise<void> {
    const mesh = selectMesh(options.mesh);
    const body = {
      label: options.label ?? '',
      capabilities: options.caps ?? (['read', 'send'] as ApiKeyCapability[]),
      ...(options.topics ? { topics: options.topics } : {}),
      ...(options.ttl ? { expires_in_s: options.ttl } : {}),
      ...(options.human ? { human: options.human } : {}),
    };
    const key = await signed(mesh, (id) => createApiKey(mesh.broker_url, id, mesh.mesh_id, body), {
      E_FORBIDDEN: `only an owner or admin of "${mesh.mesh_name}" issues admin keys or enrols humans (you are ${mesh.role})`,
    });
    const scope = key.topics ? `topics ${key.topics.map((t) => `#${t}`).join(', ')}` : 'every topic its member may read';
    const expires = key.expires_at ? `expires ${new Date(key.expires_at).toISOString()}` : 'no expiry';
    print(options.json ?? false, key, `API key ${key.id} for ${key.display_name}${options.human ? ' (a new REST-only human member)' : ''}: ${key.capabilities.join(', ')}; ${scope}; ${expires}\n${key.secret}`);
    process.stderr.write(`claudemesh: WARNING: this is the only time the key is shown (the broker keeps only its hash): store it now.\n  use: curl -H 'Authorization: Bearer <key>' ${httpBaseOf(mesh.broker_url)}/api/v1/me\n  revoke: claudemesh apikey revoke ${key.id}\n`);
  }

  @Option({ flags: '-l, --label <text>', description: 'what the key is for' })
  parseLabel(value: string): string {
    if (value.length > 100) throw new CliError('--label is at most 100 characters', EXIT.usage);
    return value;
  }

  @Option({ flags: '--caps <list>', description: 'read,send,admin (default read,send)' })
  parseCaps(value: string): ApiKeyCapability[] {
    return capsArg(value);
  }

  @Option({ flags: '--topics <list>', description: 'limit the key to these topics, e.g. general,deploys' })
  parseTopics(value: string): string[] {
    return topicListArg(value);
  }

  @Option({ flags: '--ttl <lifetime>', description: 'expire after this long: seconds, or 90m, 12h, 30d (default never)' })
  parseTtl(value: string): number {
    return ttlArg(value);
  }

  @Option({ flags: '--human <name>', description: 'owner/admin: enrol a REST-only human with this name and issue the key for them' })
  parseHuman(value: string): string {
    return humanArg(value);
  }
}

interface ListOptions extends CommonOptions {
  all?: boolean;
}

@Gated({ resource: 'apikey', verb: 'list' })
@SubCommand({ name: 'list', aliases: ['ls'], description: 'Your API keys (every key of the mesh for an owner or admin); --all adds revoked, expired and the CLI’s own' })
export class ApiKeyListCommand extends MeshVerb<ListOptions> {
  async run(_args: string[], options: ListOptions): Promise<void> {
    const mesh = selectMesh(options.mesh);
    const all = await signed(mesh, (id) => listApiKeys(mesh.broker_url, id, mesh.mesh_id));
    // The CLI's own per-run keys are revoked when the run ends; only --all shows their trail.
    const keys = options.all ? all : all.filter((k) => keyState(k) === 'active' && !k.label.startsWith(EPHEMERAL_LABEL));
    const hidden = all.length - keys.length;
    print(options.json ?? false, keys, `${keys.map(keyLine).join('\n') || '(no active API keys)'}${hidden > 0 ? `\n(${hidden} revoked, expired or per-run key${hidden === 1 ? '' : 's'} hidden: --all shows them)` : ''}`);
  }

  @Option({ flags: '-a, --all', description: 'include revoked and expired keys, and the short-lived keys verbs mint' })
  parseAll(): boolean {
    return true;
  }
}

interface RevokeOptions extends CommonOptions {
  yes?: boolean;
}

// The audit log names the key by its id only: a whole key given as the argument must not land there.
@Gated<RevokeOptions>({ resource: 'apikey', verb: 'revoke', peers: ([id]) => [/^(?:cmk_)?([a-z0-9]{16})/.exec(id ?? '')?.[1]], confirm: true })
@SubCommand({ name: 'revoke', arguments: '<id>', description: 'Revoke an API key (id, or the whole key); it fails from its next request' })
export class ApiKeyRevokeCommand extends MeshVerb<RevokeOptions> {
  async run([raw]: string[], options: RevokeOptions): Promise<void> {
    const keyId = keyIdArg(raw);
    if (!options.yes) throw new CliError(`whatever uses API key ${keyId} stops working at once; re-run with -y to confirm`, EXIT.usage);
    const mesh = selectMesh(options.mesh);
    const key = await signed(mesh, (id) => revokeApiKey(mesh.broker_url, id, mesh.mesh_id, keyId), {
      E_NOT_FOUND: 'see the keys: claudemesh apikey list --all',
      E_FORBIDDEN: 'only the key’s holder, its creator or an owner/admin revokes it',
    });
    print(options.json ?? false, key, `revoked API key ${key.id} of ${key.display_name}${key.label ? ` ("${key.label}")` : ''}`);
  }

  @Option({ flags: '-y, --yes', description: 'do not ask' })
  parseYes(): boolean {
    return true;
  }
}

@Command({ name: 'apikey', aliases: ['apikeys'], description: 'API keys for REST and SSE (scripts, browsers, humans without a member key)', subCommands: [ApiKeyCreateCommand, ApiKeyListCommand, ApiKeyRevokeCommand] })
export class ApiKeyCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}
