import { Command, CommanderError } from 'commander';
import { ExitCode, UserError } from '../errors.js';

const VERSION = '0.1.0';

/** Each command module exports `register(program)`; add new ones to this list. */
const commandModules: Array<() => Promise<{ register(program: Command): void }>> = [];

export async function buildProgram(): Promise<Command> {
  const program = new Command('portcullis')
    .description('Fail2Ban-compatible intrusion prevention for docker-mailserver and Linux hosts')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError();
  for (const load of commandModules) (await load()).register(program);
  return program;
}

/** Runs the CLI and returns the exit code. Errors become one line on stderr, never a stack trace. */
export async function runCli(argv: string[]): Promise<number> {
  const program = await buildProgram();
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
