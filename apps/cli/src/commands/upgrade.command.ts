import { Command, CommandRunner, Option } from 'nest-commander';
import { CliError, EXIT, print } from '../context.js';
import { DOWNLOAD_BASE, latestVersion, locateInstall, manifest, runUpgrade, upgradeCommand } from '../upgrade/upgrade.js';
import { dirname } from 'node:path';

interface UpgradeOptions {
  dryRun?: boolean;
  json?: boolean;
}

const quote = (arg: string): string => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);

/**
 * `upgrade [--dry-run]`: updates a global npm install in place with the npm of its own prefix
 * (`npm install -g @claudemesh/cli@latest --prefix <prefix>`). It first asks the registry for the
 * latest version, so an offline machine gets a clear error before npm touches anything; npm
 * replaces the package only once the new one is fetched (nothing is uninstalled first). From a
 * checkout or as a project dependency it says how to update instead, and runs nothing.
 */
@Command({ name: 'upgrade', description: 'Update claudemesh to the latest published version (npm install -g … --prefix <the prefix it was installed in>)' })
export class UpgradeCommand extends CommandRunner {
  async run(_args: string[], options: UpgradeOptions): Promise<void> {
    const json = options.json ?? false;
    const dryRun = options.dryRun ?? false;
    const install = locateInstall();
    const current = manifest(install.root).version;
    if (install.kind === 'binary') {
      // The running binary cannot replace itself safely; the install script does it (checksum first).
      const how = `curl -fsSL ${DOWNLOAD_BASE}/install.sh | CLAUDEMESH_INSTALL_METHOD=binary CLAUDEMESH_INSTALL_DIR=${quote(dirname(install.path))} sh`;
      print(json, { install: 'binary', path: install.path, version: current, upgraded: false, how }, `claudemesh ${current} is the single binary at ${install.path}; nothing was run. To update it:\n  ${how}`);
      return;
    }
    if (install.kind === 'checkout') {
      const how = `cd ${quote(install.repo ?? install.root)} && git pull && npm install && npm run build`;
      print(json, { install: 'checkout', root: install.root, repo: install.repo, version: current, upgraded: false, how }, `claudemesh ${current} runs from a checkout at ${install.root}, not an npm install; nothing was run. To update it:\n  ${how}`);
      return;
    }
    if (install.kind === 'dependency') {
      const how = `cd ${quote(install.project)} && npm install ${manifest(install.root).name}@latest`;
      print(json, { install: 'dependency', root: install.root, project: install.project, version: current, upgraded: false, how }, `claudemesh ${current} is a dependency of the project at ${install.project}, not a global install; nothing was run. To update it:\n  ${how}`);
      return;
    }
    const command = upgradeCommand(install);
    const line = command.map(quote).join(' ');
    const base = { install: 'global', root: install.root, prefix: install.prefix, npm: install.npm, version: current, command };
    if (dryRun) {
      print(json, { ...base, dry_run: true, upgraded: false }, `would run: ${line}`);
      return;
    }
    const timeoutMs = Number(process.env['CLAUDEMESH_UPGRADE_TIMEOUT_MS'] ?? 20_000);
    const latest = await latestVersion(install, timeoutMs > 0 ? timeoutMs : 20_000);
    if (!latest.ok) {
      const why =
        latest.reason === 'unreachable'
          ? `cannot reach the npm registry ${latest.registry} (${latest.detail}); claudemesh ${current} is left as it is. Check the network (or npm config get registry), then retry: claudemesh upgrade`
          : latest.reason === 'not-published'
            ? `${manifest(install.root).name} is not on the npm registry ${latest.registry} (${latest.detail}); claudemesh ${current} is left as it is`
            : `npm could not ask ${latest.registry} for the latest version (${latest.detail}); claudemesh ${current} is left as it is`;
      throw new CliError(why, EXIT.failure);
    }
    if (latest.version === current) {
      print(json, { ...base, latest: latest.version, upgraded: false }, `claudemesh ${current} is the latest version; nothing to do`);
      return;
    }
    if (!json) process.stdout.write(`upgrading claudemesh ${current} → ${latest.version}: ${line}\n`);
    const code = await runUpgrade(command);
    if (code !== 0) throw new CliError(`npm install exited with ${code}; claudemesh ${current} should still be installed as it was (npm replaces a package only after fetching the new one). Run it yourself to see why: ${line}`, EXIT.failure);
    const now = manifest(install.root).version;
    print(json, { ...base, latest: latest.version, upgraded: true, from: current, to: now }, `claudemesh ${current} → ${now}`);
  }

  @Option({ flags: '--dry-run', description: 'print the npm command, run nothing' })
  parseDryRun(): boolean {
    return true;
  }

  @Option({ flags: '--json', description: 'machine-readable summary' })
  parseJson(): boolean {
    return true;
  }
}
