// `portcullis replay [-c DIR] [--json] LOG...`: what the enabled jails would have banned over these logs,
// with the logs' own timestamps as the clock. Touches no firewall and no database.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { defaultConfigDir, loadConfig } from '../config/load.js';
import { UserError } from '../errors.js';
import { Replay, type ReplayBan } from '../jail/replay.js';
import { formatLocalTime } from '../server/daemon-log.js';

interface ReplayFlags {
  config?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('replay')
    .description('simulate the enabled jails over historical logs (no firewall, no database)')
    .argument('<log...>', 'log files, read in the order given')
    .option('-c, --config <dir>', 'Fail2Ban configuration tree')
    .option('--json', 'print {"bans": [{"jail", "ip", "time", "bantime", "end", "failures", "banCount"}]}')
    .action(async (logs: string[], flags: ReplayFlags) => {
      const config = loadConfig({ dir: flags.config ?? defaultConfigDir() });
      const replay = new Replay(config.jails, Date.now() / 1000);
      for (const log of logs) await feed(replay, log);
      process.stdout.write(flags.json ? formatJson(replay.bans) : formatTable(replay.bans, replay.jailNames));
    });
}

async function feed(replay: Replay, path: string): Promise<void> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (err) => reject(new UserError(`replay: cannot read ${path}: ${fileProblem(err)}`)));
  });
  await opened;
  for await (const line of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) {
    replay.line(line);
  }
}

/** The reason as a person says it, not libuv's "ENOENT: no such file or directory, open '…'". */
export function fileProblem(err: NodeJS.ErrnoException): string {
  if (err.code === 'ENOENT') return 'no such file';
  if (err.code === 'EISDIR') return 'it is a directory';
  if (err.code === 'EACCES' || err.code === 'EPERM') return 'permission denied';
  return err.message;
}

/** One object per ban; `end` is time + bantime, null when permanent. */
function formatJson(bans: readonly ReplayBan[]): string {
  const rows = bans.map(({ jail, ip, time, bantime, failures, banCount }) => ({
    jail,
    ip,
    time,
    bantime,
    end: bantime < 0 ? null : time + bantime,
    failures,
    banCount,
  }));
  return `${JSON.stringify({ bans: rows })}\n`;
}

function formatTable(bans: readonly ReplayBan[], jails: readonly string[]): string {
  if (bans.length === 0) return `No bans (jails replayed: ${jails.join(', ') || 'none'})\n`;
  const rows = bans.map((b) => [
    formatLocalTime(b.time * 1000),
    b.jail,
    b.ip,
    String(b.failures),
    b.bantime < 0 ? 'permanent' : `${b.bantime}s`,
  ]);
  const head = ['TIME', 'JAIL', 'IP', 'FAILURES', 'BANTIME'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `${cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`;
  const perJail = jails.map((j) => `${j}: ${bans.filter((b) => b.jail === j).length}`).join(', ');
  return `${line(head)}${rows.map(line).join('')}\n${bans.length} ban(s) (${perJail})\n`;
}
