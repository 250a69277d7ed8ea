import { Command, CommanderError } from 'commander';
import { ExitCode, UserError } from '../errors.js';

const VERSION = '0.1.0';

type CommandModule = { register(program: Command): void };

/**
 * Each command module exports `register(program)`, listed with the commands it registers. Only the
 * module of the command being run is loaded: a short-lived client call (or `regex` over a small file)
 * should not pay for importing the daemon. Help and unknown commands load them all.
 */
const commandModules: Array<[commands: string[], load: () => Promise<CommandModule>]> = [
  [['status', 'ban', 'unban', 'banned', 'reload', 'ping', 'stop', 'client'], () => import('./control.js')],
  [['setup'], () => import('./setup.js')],
  [['config'], () => import('./config-dump.js')],
  [['server'], () => import('./server.js')],
  [['replay'], () => import('./replay.js')],
  [['import-fail2ban-db'], () => import('./import-fail2ban-db.js')],
  [['regex'], () => import('./regex.js')],
];

export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('portcullis')
    .description('Fail2Ban-compatible intrusion prevention for docker-mailserver and Linux hosts')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError();
  const command = argv[0];
  const only = commandModules.find(([commands]) => command !== undefined && commands.includes(command));
  for (const [, load] of only ? [only] : commandModules) (await load()).register(program);
  return program;
}

/** Every command name, for the one-line answer to an unknown one. */
const COMMANDS = commandModules.flatMap(([commands]) => commands).concat(['help']);

/** The known command closest to `word` (at most 2 edits, or a prefix), if any. */
export function nearest(word: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  for (const k of known) {
    const d = k.startsWith(word) && word.length >= 2 ? 1 : editDistance(word, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/** Damerau-Levenshtein distance (adjacent swaps count as one edit: statsu → status). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
    }
  return (d[a.length] as number[])[b.length] as number;
}

/** Runs the CLI and returns the exit code. Errors become one line on stderr, never a stack trace. */
export async function runCli(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first !== undefined && !first.startsWith('-') && !COMMANDS.includes(first)) {
    const near = nearest(first, COMMANDS);
    const hint = near === null ? "see 'portcullis --help'" : `did you mean '${near}'?`;
    process.stderr.write(`portcullis: unknown command '${first}'; ${hint}\n`);
    return ExitCode.usage;
  }
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (err instanceof UserError) {
      process.stderr.write(`portcullis: ${err.message}\n`);
      return err.exitCode;
    }
    const detail = err instanceof Error ? err.message : String(err);
    process.stderr.write(`portcullis: internal error: ${detail} (please report this with the command you ran)\n`);
    return ExitCode.failure;
  }
}
