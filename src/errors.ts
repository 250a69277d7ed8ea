// Errors a user can act on. The CLI prints `message` as one line and exits with `exitCode`; anything
// else that escapes is a bug and is reported as one, still on one line.

/** Exit codes, documented in the README. */
export const ExitCode = {
  ok: 0,
  /** The operation failed at run time (server not running, firewall command failed…). */
  failure: 1,
  /** Bad usage or invalid input (unknown jail, malformed IP…). */
  usage: 2,
  /** The configuration cannot be read or is invalid. */
  config: 3,
  /** The host lacks something portcullis needs (CAP_NET_ADMIN, nftables sets…). */
  environment: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.usage,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** A problem in a configuration file, reported as `file:line: what is wrong`. */
export class ConfigError extends UserError {
  constructor(
    readonly file: string,
    readonly line: number | null,
    readonly problem: string,
  ) {
    super(`${line === null ? file : `${file}:${line}`}: ${problem}`, ExitCode.config);
    this.name = 'ConfigError';
  }
}
