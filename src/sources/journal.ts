// `backend = systemd`: reads the journal through `journalctl --follow --output=json`, not libsystemd, so
// there is no native module to build and the journal's own tool decides what is readable. The filter's
// journalmatch terms go to journalctl as argv (never through a shell); the last acknowledged `__CURSOR`
// is saved, and a restart (of journalctl or of the daemon) continues with `--after-cursor`. If journalctl
// dies it is restarted with exponential backoff.
import { type ChildProcess, spawn } from 'node:child_process';
import { ExitCode, UserError } from '../errors.js';
import { decoderFor } from './encoding.js';
import { entryTime, formatEntry, type JournalRecord } from './journal-entry.js';
import type { BatchHandler, CursorStore, Source, SourceErrorHandler } from './source.js';

export interface JournalSourceOptions {
  /** The cursor store's key, usually the jail name. */
  key: string;
  /** The filter's `journalmatch` lines. Terms in a line must all match; lines (and `+`) are alternatives. */
  matches: string[];
  onBatch: BatchHandler;
  cursors?: CursorStore;
  onError?: SourceErrorHandler;
  /**
   * Without a saved cursor: read entries since this time (epoch seconds; the daemon passes now − findtime,
   * as Fail2Ban does), or, when absent, only entries that arrive from now on.
   */
  since?: number;
  /** Extra journalctl arguments (Fail2Ban's `journalflags`, e.g. `--system`). */
  extraArgs?: string[];
  /** The program to run, found on PATH. Default `journalctl`. */
  command?: string;
  encoding?: string;
  maxLineBytes?: number;
  /** First restart delay after journalctl exits (ms); doubles up to `restartMaxMs`. Default 1000. */
  restartMinMs?: number;
  /** Default 30000. */
  restartMaxMs?: number;
}

/** A JSON record longer than this is skipped (journalctl --all can print huge binary fields). */
const MAX_RECORD_BYTES = 1 << 20;
/** A journalctl that ran this long was healthy: the next restart starts from the shortest delay again. */
const HEALTHY_MS = 10_000;

/** journalmatch lines → journalctl argv: terms as they are, alternatives separated by `+`. */
export function matchArgs(matches: string[]): string[] {
  const args: string[] = [];
  for (const line of matches) {
    const terms = line.split(/\s+/).filter((t) => t !== '');
    if (terms.length === 0) continue;
    for (const term of terms) {
      // FIELD=value, an alternative, or a program path (journalctl matches _EXE). Anything else, notably
      // a leading `-`, would be read as an option.
      if (term !== '+' && !/^[A-Z0-9_]+=/.test(term) && !term.startsWith('/')) {
        throw new UserError(
          `journalmatch term '${term}' is not FIELD=value, '+' or an absolute path (e.g. _SYSTEMD_UNIT=postfix.service)`,
          ExitCode.config,
        );
      }
    }
    if (args.length > 0) args.push('+');
    args.push(...terms);
  }
  return args;
}

export class JournalSource implements Source {
  private child: ChildProcess | null = null;
  private loop: Promise<void> | null = null;
  private cursor: string | null = null;
  private isStopped = false;
  private wake: (() => void) | null = null;
  private readonly decode;
  private readonly matchArgv: string[];

  constructor(private readonly options: JournalSourceOptions) {
    this.decode = decoderFor(options.encoding ?? 'auto');
    this.matchArgv = matchArgs(options.matches);
  }

  /** Resolves once journalctl runs; rejects with a UserError when it cannot be started at all. */
  async start(): Promise<void> {
    this.cursor = (await this.options.cursors?.get(this.options.key)) ?? null;
    const child = await this.spawnJournalctl();
    this.loop = this.run(child);
  }

  async stop(): Promise<void> {
    this.isStopped = true;
    this.child?.kill('SIGTERM');
    this.wake?.();
    await this.loop;
  }

  /** The journalctl arguments for the current cursor (exported for the daemon's debug output). */
  args(): string[] {
    const o = this.options;
    const seek = this.cursor
      ? [`--after-cursor=${this.cursor}`]
      : o.since !== undefined
        ? [`--since=@${Math.floor(o.since)}`]
        : ['--lines=0'];
    return ['--follow', '--output=json', '--all', '--no-pager', ...seek, ...(o.extraArgs ?? []), ...this.matchArgv];
  }

  private spawnJournalctl(): Promise<ChildProcess> {
    const command = this.options.command ?? 'journalctl';
    return new Promise((resolve, reject) => {
      const child = spawn(command, this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
      child.once('spawn', () => {
        this.child = child;
        resolve(child);
      });
      child.once('error', (err: NodeJS.ErrnoException) => {
        reject(
          err.code === 'ENOENT'
            ? new UserError(
                `${command} not found on PATH: backend = systemd needs systemd's journalctl (install it, or use backend = auto with a logpath)`,
                ExitCode.environment,
              )
            : new UserError(`cannot run ${command}: ${err.message}`, ExitCode.environment),
        );
      });
    });
  }

  private async run(first: ChildProcess): Promise<void> {
    const min = this.options.restartMinMs ?? 1000;
    const max = this.options.restartMaxMs ?? 30_000;
    let delay = min;
    let child: ChildProcess | null = first;
    while (!this.isStopped) {
      if (child) {
        const began = Date.now();
        const stderr = collectLastLine(child);
        const exited = new Promise<number | null>((r) => child!.once('close', (code) => r(code)));
        await this.readRecords(child).catch((err: Error) => {
          this.report(`reading journalctl output failed: ${err.message}`);
          child!.kill('SIGTERM');
        });
        const code = await exited;
        this.child = null;
        if (this.isStopped) return;
        if (Date.now() - began >= HEALTHY_MS) delay = min;
        const why = stderr() ? `: ${stderr()}` : '';
        this.report(`journalctl exited with code ${code}${why}; restarting in ${delay} ms`);
      }
      await this.sleep(delay);
      delay = Math.min(delay * 2, max);
      if (this.isStopped) return;
      child = await this.spawnJournalctl().catch((err: Error) => {
        this.report(err.message);
        return null;
      });
    }
  }

  /** Reads newline-separated JSON records; each stdout chunk becomes one batch (bursts stay batched). */
  private async readRecords(child: ChildProcess): Promise<void> {
    let held: Buffer | null = null;
    let skipping = false;
    for await (const data of child.stdout!) {
      let chunk = data as Buffer;
      const lines: string[] = [];
      const times: number[] = [];
      let cursor: string | null = null;
      let start = 0;
      for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
        let text: string;
        if (held) {
          text = Buffer.concat([held, chunk.subarray(0, nl)]).toString('utf8');
          held = null;
        } else text = chunk.toString('utf8', start, nl);
        start = nl + 1;
        if (skipping) {
          skipping = false;
          continue;
        }
        const parsed = this.parse(text);
        if (!parsed) continue;
        lines.push(formatEntry(parsed, this.decode, this.options.maxLineBytes ?? 65536));
        times.push(entryTime(parsed) ?? Date.now() / 1000);
        if (typeof parsed['__CURSOR'] === 'string') cursor = parsed['__CURSOR'];
      }
      chunk = chunk.subarray(start);
      if (!skipping && chunk.length > 0) {
        const size = (held?.length ?? 0) + chunk.length;
        if (size > MAX_RECORD_BYTES) {
          this.report(`skipped a journal record longer than ${MAX_RECORD_BYTES} bytes`);
          held = null;
          skipping = true;
        } else held = held ? Buffer.concat([held, chunk]) : Buffer.from(chunk);
      }
      if (lines.length > 0) await this.deliver(lines, times, cursor);
    }
  }

  private parse(text: string): JournalRecord | null {
    if (text.trim() === '') return null;
    try {
      const value: unknown = JSON.parse(text);
      if (value && typeof value === 'object' && !Array.isArray(value)) return value as JournalRecord;
    } catch {
      // fall through
    }
    this.report(`journalctl printed a line that is not a JSON record: ${text.slice(0, 80)}`);
    return null;
  }

  private async deliver(lines: string[], times: number[], cursor: string | null): Promise<void> {
    try {
      await this.options.onBatch({ path: 'journal', lines, times });
    } catch (err) {
      this.report(`handling journal lines failed: ${err instanceof Error ? err.message : err}`);
    }
    if (cursor) {
      this.cursor = cursor;
      try {
        await this.options.cursors?.set(this.options.key, cursor);
      } catch (err) {
        this.report(`cannot save the journal cursor of ${this.options.key}: ${err instanceof Error ? err.message : err}`);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private report(message: string): void {
    this.options.onError?.(new Error(message));
  }
}

/** Keeps the last non-empty stderr line of a child (journalctl explains failures there). */
function collectLastLine(child: ChildProcess): () => string {
  let last = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    if (lines.length > 0) last = lines[lines.length - 1]!.trim().slice(0, 200);
  });
  return () => last;
}
