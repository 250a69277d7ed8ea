import { Command, CommanderError } from 'commander';
import { nearest } from '../config/suggest.js';
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
  [['import-fail2ban-db', 'export-fail2ban-db'], () => import('./import-fail2ban-db.js')],
  [['regex'], () => import('./regex.js')],
  [['doctor'], () => import('./doctor.js')],
];

export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('portcullis')
    .description('Fail2Ban-compatible intrusion prevention for docker-mailserver and Linux hosts')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError();
  const command = argv[0];
  const only = commandModules.find(([commands]) => command !== undefined && commands.includes(command));
  // `--version` needs no command module; help and unknown commands need them all.
  const version = argv.length === 1 && (command === '--version' || command === '-V');
  for (const [, load] of version ? [] : only ? [only] : commandModules) (await load()).register(program);
  return program;
}

/** Every command name, for the one-line answer to an unknown one. */
const COMMANDS = commandModules.flatMap(([commands]) => commands).concat(['help']);

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
