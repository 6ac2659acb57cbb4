import { Command, CommandRunner, Option } from 'nest-commander';
import { CliError, EXIT, print } from '../context.js';
import { formatReport, installUrlHandler, uninstallUrlHandler } from '../url-scheme/register.js';

interface UrlHandlerOptions {
  json?: boolean;
}

/**
 * `url-handler install|uninstall`: makes the OS open claudemesh:// links with `claudemesh <link>`
 * (join, then launch Claude Code). Linux: a desktop entry plus the x-scheme-handler default;
 * macOS: an applet in ~/Applications registered with Launch Services; Windows: a per-user URL
 * protocol under HKCU\Software\Classes. Uninstall removes only what install wrote.
 */
@Command({
  name: 'url-handler',
  arguments: '<install|uninstall>',
  description: 'Register (or remove) the claudemesh:// URL scheme with the OS, so invite links open claudemesh',
})
export class UrlHandlerCommand extends CommandRunner {
  async run([action]: string[], options: UrlHandlerOptions): Promise<void> {
    if (action !== 'install' && action !== 'uninstall') throw new CliError('usage: claudemesh url-handler install|uninstall [--json]', EXIT.usage);
    const report = action === 'install' ? installUrlHandler() : uninstallUrlHandler();
    print(options.json ?? false, report, formatReport(report));
  }

  @Option({ flags: '--json', description: 'machine-readable summary' })
  parseJson(): boolean {
    return true;
  }
}
