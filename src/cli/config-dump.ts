// `portcullis config dump`: the resolved configuration, either as the typed model (JSON) or as the
// command stream `fail2ban-client -d` prints, so a tree can be compared with Fail2Ban line by line.
import type { Command } from 'commander';
import { defaultConfigDir, loadConfig, readRawConfig } from '../config/load.js';
import { pyRepr } from '../config/pyvalue.js';
import { configStream } from '../config/stream.js';
import { UserError } from '../errors.js';

function findOrCreate(program: Command, name: string, description: string): Command {
  return program.commands.find((c) => c.name() === name) ?? program.command(name).description(description);
}

export function register(program: Command): void {
  findOrCreate(program, 'config', 'inspect the configuration')
    .command('dump')
    .description('print the resolved configuration (like fail2ban-client -d)')
    .option('-c, --config <dir>', 'Fail2Ban-style configuration tree (default: /etc/fail2ban if present, else built-in)')
    .option('--format <format>', 'fail2ban (the fail2ban-client -d stream) or json (the typed model)', 'json')
    .option('--json', 'same as --format json')
    .action((opts: { config?: string; format: string; json?: boolean }) => {
      const dir = opts.config ?? defaultConfigDir();
      const format = opts.json ? 'json' : opts.format;
      if (format === 'fail2ban') {
        const raw = readRawConfig({ dir });
        const out = configStream(raw.server, raw.jails).map((c) => pyRepr(c));
        process.stdout.write(out.length > 0 ? `${out.join('\n')}\n` : '');
      } else if (format === 'json') {
        process.stdout.write(`${JSON.stringify(loadConfig({ dir }), null, 2)}\n`);
      } else {
        throw new UserError(`unknown format "${format}"; use fail2ban or json`);
      }
    });
}
