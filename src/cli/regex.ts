// `portcullis regex LOG FILTER`: fail2ban-regex's job. Runs a filter over a log file (or one line of
// text) and reports what matched. Files are read in large chunks; when the filter knows literal texts
// every match must contain, only lines holding one of them are decoded and matched, which is what
// makes multi-gigabyte logs fast.
import { setFlagsFromString } from 'node:v8';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { defaultConfigDir } from '../config/defaults-dir.js';
import type { FilterDefinition } from '../config/model.js';
import { loadFilterDefinition } from '../config/filter-def.js';
import { ExitCode, UserError } from '../errors.js';
import { Filter, FilterError, filterConfigError } from '../filter/filter.js';
import { type ByteScanner, byteScanner } from '../filter/byte-scan.js';
import type { Failure } from '../filter/failure.js';
import { resolveLogZone } from '../filter/timezone.js';
import { DEFAULT_DEADLINE_MS, threadGuard } from '../server/regex-guard.js';

interface RegexOptions {
  config?: string;
  /** Test what this configured jail runs: its filter, mode, datepattern, ignoreregex, usedns, zone. */
  jail?: string;
  json?: boolean;
  printAllMissed?: boolean;
  printAllMatched?: boolean;
  timezone?: string;
  usedns?: string;
}

interface Match {
  line: number;
  ip: string;
  time: number;
  fields: Record<string, string>;
}

/** What a run found; the CLI prints it, tests and the bench read it. */
export interface RegexReport {
  lines: number;
  matches: Match[];
  ignored: number[];
  /** The filter's failregexes as written, and hits per failregex (index-aligned). */
  regexes: string[];
  regexHits: number[];
  dateHits: Map<string, number>;
  missed: Array<[number, string]>;
  matched: Array<[number, string]>;
}

// 1 MiB: each chunk is scanned for the gate literals and newlines while it is still in the CPU cache.
const CHUNK = 1024 * 1024;
/** A line is cut at MAX_LINE bytes; at most MAX_HELD bytes of one line are ever buffered. */
/** Logs smaller than this (about 2M mail log lines) are scanned without TurboFan (see scan). */
const NO_OPT_BELOW = 256 * 1024 * 1024;
const MAX_LINE = 64 * 1024;
const MAX_HELD = 4 * 1024 * 1024;
const NEWLINE = 0x0a;


class Runner {
  readonly report: RegexReport;
  private readonly now = Date.now() / 1000;

  constructor(
    readonly filter: Filter,
    regexes: string[],
    private readonly keepMissed: boolean,
    private readonly keepMatched: boolean,
  ) {
    this.report = {
      lines: 0,
      regexes,
      matches: [],
      ignored: [],
      regexHits: filter.failregex.map(() => 0),
      dateHits: new Map(),
      missed: [],
      matched: [],
    };
  }

  line(text: string, lineNo: number): void {
    const line = text.endsWith('\r') ? text.slice(0, -1) : text;
    const found = this.filter.processLine(line, this.now);
    const r = this.report;
    const tpl = this.filter.lastDate;
    if (tpl) r.dateHits.set(tpl.name, (r.dateHits.get(tpl.name) ?? 0) + 1);
    if (this.filter.lastIgnored) r.ignored.push(lineNo);
    if (found.length === 0) {
      if (this.keepMissed && !this.filter.lastIgnored) r.missed.push([lineNo, line]);
      return;
    }
    for (const f of found) this.add(f, lineNo);
    if (this.keepMatched) r.matched.push([lineNo, line]);
  }

  private add(f: Failure, lineNo: number): void {
    this.report.regexHits[f.regex] = (this.report.regexHits[f.regex] ?? 0) + 1;
    this.report.matches.push({ line: lineNo, ip: f.ip, time: f.time, fields: f.fields });
  }
}

/**
 * Scans a file chunk by chunk; with a scanner of the filter's literals, only lines containing one are
 * decoded. The unfinished last line of a chunk is moved to the front of the same buffer (no per-chunk
 * concatenation). A line longer than MAX_HELD is cut there and the rest of it skipped: log lines are
 * hostile input.
 */
function scanFile(path: string, run: Runner, gate: ByteScanner | null, progress: (done: number) => void): number {
  const fd = openSync(path, 'r');
  try {
    const buf = gate?.bytes ?? Buffer.allocUnsafe(CHUNK + MAX_HELD);
    let held = 0;
    let skipRest = false;
    let lineNo = 0;
    let offset = 0;
    for (;;) {
      const n = readSync(fd, buf, held, CHUNK, null);
      offset += n;
      const total = held + n;
      let start = 0;
      if (skipRest) {
        const nl = buf.indexOf(NEWLINE, held);
        if (nl < 0 || nl >= total) {
          held = 0;
          if (n === 0) break;
          continue;
        }
        start = nl + 1;
        skipRest = false;
      }
      const end = n === 0 ? total : buf.lastIndexOf(NEWLINE, total - 1) + 1;
      const cut = Math.max(start, end);
      lineNo = scanLines(buf, start, cut, lineNo, run, gate, n === 0);
      if (n === 0) break;
      held = total - cut;
      if (held >= MAX_HELD) {
        // A hostile line: match its first MAX_LINE bytes, drop the rest up to its newline.
        buf.copy(buf, 0, cut, cut + MAX_LINE);
        lineNo = scanLines(buf, 0, MAX_LINE, lineNo, run, gate, true);
        held = 0;
        skipRest = true;
      } else buf.copy(buf, 0, cut, total);
      progress(offset);
    }
    return lineNo;
  } finally {
    closeSync(fd);
  }
}

/**
 * Lines of buf[from, to) (and a final unterminated one at EOF); returns the last line number. With a
 * gate, only lines holding one of its literals are decoded, and the lines between are only counted.
 */
function scanLines(buf: Buffer, from: number, to: number, lineNo: number, run: Runner, gate: ByteScanner | null, eof: boolean): number {
  let pos = from;
  if (gate !== null) {
    for (let hit = gate.find(pos, to); hit >= 0; hit = gate.find(pos, to)) {
      const start = Math.max(pos, buf.lastIndexOf(NEWLINE, hit) + 1);
      lineNo += gate.countNewlines(pos, start);
      let nl = buf.indexOf(NEWLINE, hit);
      if (nl < 0 || nl >= to) nl = to;
      lineNo++;
      run.line(buf.toString('utf8', start, nl), lineNo);
      pos = nl + 1;
    }
    if (pos >= to) return lineNo;
    lineNo += gate.countNewlines(pos, to);
    if (eof && buf[to - 1] !== NEWLINE) lineNo++; // an unterminated last line at EOF still counts
    return lineNo;
  }
  while (pos < to) {
    let nl = buf.indexOf(NEWLINE, pos);
    if (nl < 0 || nl >= to) {
      if (!eof) break;
      nl = to;
    }
    lineNo++;
    run.line(buf.toString('utf8', pos, nl), lineNo);
    pos = nl + 1;
  }
  return lineNo;
}

/** The filter to run: FILTER as fail2ban-regex reads it, or exactly what `--jail NAME` runs in the daemon. */
async function chooseFilter(filterSpec: string | undefined, opts: RegexOptions): Promise<{ def: FilterDefinition; zone?: string; useDns: string }> {
  const dir = opts.config ?? defaultConfigDir();
  if (opts.config !== undefined && !existsSync(opts.config))
    throw new UserError(`configuration directory ${opts.config} does not exist`, ExitCode.config);
  if (opts.jail === undefined) {
    if (filterSpec === undefined) throw new UserError('regex: give a FILTER or --jail NAME');
    return { def: loadFilterDefinition(filterSpec, { dir }), zone: opts.timezone, useDns: opts.usedns ?? 'raw' };
  }
  if (filterSpec !== undefined) throw new UserError(`regex: give a FILTER or --jail ${opts.jail}, not both`);
  // The whole jail configuration is loaded only for --jail (~10 ms of module loading otherwise).
  const { loadConfig } = await import('../config/load.js');
  const jails = loadConfig({ dir }).jails;
  const jail = jails.find((j) => j.name === opts.jail);
  const tree = dir ?? 'the built-in defaults';
  if (jail === undefined)
    throw new UserError(`regex: no enabled jail named '${opts.jail}' in ${tree} (enabled: ${jails.map((j) => j.name).join(', ') || 'none'})`);
  if (jail.filter === null) throw new UserError(`regex: jail '${jail.name}' has no filter to test`);
  return { def: jail.filter, zone: opts.timezone ?? jail.options.logtimezone, useDns: opts.usedns ?? jail.usedns };
}

/** Runs FILTER (or the filter of `opts.jail`) over LOG (a file path, or the text itself when no such file exists). */
export async function runRegex(log: string, filterSpec: string | undefined, opts: RegexOptions): Promise<RegexReport> {
  const { def, zone, useDns } = await chooseFilter(filterSpec, opts);
  let filter: Filter;
  const guard = threadGuard();
  try {
    filter = new Filter(def, { checkAll: true, zone: resolveLogZone(zone), useDns, guard });
  } catch (err) {
    if (err instanceof FilterError) throw filterConfigError(def, err);
    throw err;
  }
  for (const c of filter.catastrophic)
    process.stderr.write(`WARNING ${c.where}: ${c.option} can backtrack catastrophically at ${c.part}; lines taking over ${DEFAULT_DEADLINE_MS} ms are skipped\n`);
  try {
    return scan(log, filter, def.failregex, opts);
  } finally {
    guard.close();
    if (filter.skippedTooSlow > 0) process.stderr.write(`WARNING ${filter.skippedTooSlow} line(s) skipped: matching took over ${DEFAULT_DEADLINE_MS} ms\n`);
  }
}

function scan(log: string, filter: Filter, failregex: string[], opts: RegexOptions): RegexReport {
  const keepMissed = opts.printAllMissed === true;
  const run = new Runner(filter, failregex, keepMissed, opts.printAllMatched === true);
  let lines: number;
  if (existsSync(log) && statSync(log).isFile()) {
    // Lines without a gate literal cannot match; unless missed lines are wanted, they are not decoded.
    const gateTexts = keepMissed ? null : filter.literals;
    const gate = gateTexts === null ? null : byteScanner(gateTexts, CHUNK + MAX_HELD);
    const size = statSync(log).size;
    const tty = process.stderr.isTTY === true && !opts.json;
    let last = 0;
    // TurboFan's compiles cost a short scan more than they save: measured on 2 cores, CPU time of the
    // whole command 214 -> 180 ms at 1M lines (126 MB), but 472 -> 490 ms at 5M. Off for the scan only,
    // and back on before the bundle's code cache is written (V8 keys the cache to the flags).
    const noOpt = size < NO_OPT_BELOW;
    if (noOpt) setFlagsFromString('--no-opt');
    try {
      lines = scanFile(log, run, gate, (done) => {
        if (!tty) return;
        const t = Date.now();
        if (t - last < 250) return;
        last = t;
        process.stderr.write(`\r  ${Math.floor((done / Math.max(size, 1)) * 100)}% of ${(size / 1e6).toFixed(0)} MB`);
      });
    } finally {
      if (noOpt) setFlagsFromString('--opt');
    }
    if (tty) process.stderr.write('\r\x1b[K');
  } else {
    const texts = log.split('\n');
    for (const [i, t] of texts.entries()) run.line(t, i + 1);
    lines = texts.length;
  }
  run.report.lines = lines;
  return run.report;
}

function human(report: RegexReport, filter: string, log: string, seconds: number, opts: RegexOptions): string {
  const out: string[] = [];
  out.push('Running tests', '=============', '');
  out.push(`Use   failregex filter : ${filter}`);
  out.push(`Use         log file   : ${existsSync(log) ? log : '(the line given)'}`, '');
  out.push('Results', '=======', '');
  const total = report.regexHits.reduce((a, b) => a + b, 0);
  out.push(`Failregex: ${total} total`);
  out.push('|-  #) [# of hits] regular expression');
  report.regexHits.forEach((hits, i) => {
    if (hits > 0) out.push(`|  ${String(i + 1).padStart(2)}) [${hits}] ${report.regexes[i]}`);
  });
  out.push('`-', '');
  out.push(`Ignoreregex: ${report.ignored.length} total`, '');
  out.push('Date template hits (lines examined):');
  out.push('|- [# of hits] date format');
  for (const [name, hits] of [...report.dateHits].sort((a, b) => b[1] - a[1])) out.push(`|  [${hits}] ${name}`);
  out.push('`-', '');
  const matchedLines = new Set(report.matches.map((m) => m.line)).size;
  const missed = report.lines - matchedLines - report.ignored.length;
  out.push(
    `Lines: ${report.lines} lines, ${report.ignored.length} ignored, ${matchedLines} matched, ${missed} missed`,
  );
  out.push(`[processed in ${seconds.toFixed(2)} sec]`);
  if (opts.printAllMatched) {
    out.push('', `|- Matched line(s):`);
    for (const [n, l] of report.matched) out.push(`|  ${n}: ${l}`);
    out.push('`-');
  }
  if (opts.printAllMissed) {
    out.push('', `|- Missed line(s):`);
    for (const [n, l] of report.missed) out.push(`|  ${n}: ${l}`);
    out.push('`-');
  }
  return `${out.join('\n')}\n`;
}

export function register(program: Command): void {
  program
    .command('regex')
    .description('test a filter against a log file or one log line (like fail2ban-regex)')
    .argument('<log>', 'a log file, or one line of log text')
    .argument('[filter]', 'a filter name (sshd), with arguments (postfix[mode=extra]), or a path to a filter file')
    .option('--jail <name>', "test what the configured jail runs: its filter, mode, datepattern, ignoreregex")
    .option('-c, --config <dir>', 'Fail2Ban configuration directory (default: /etc/fail2ban if present, else built-in)')
    .option('--json', 'print {"lines", "matches", "ignored"} as one JSON object')
    .option('--print-all-missed', 'print every line that no failregex matched (reads every line)')
    .option('--print-all-matched', 'print every matched line')
    .option('--timezone <zone>', 'zone of log times written without one (default: TZ, else the host zone)')
    .option('--usedns <mode>', 'yes | warn | no | raw: whether <HOST> may match host names', 'raw')
    .action(async (log: string, filterSpec: string | undefined, opts: RegexOptions) => {
      // fail2ban-regex takes it as a line too, silently; a path-like argument was most likely meant as a file.
      if (!/\s/.test(log) && !(existsSync(log) && statSync(log).isFile())) {
        const why = existsSync(log) ? 'is not a file' : 'no such file';
        process.stderr.write(`portcullis: regex: ${log}: ${why}; matching it as one log line\n`);
      }
      const started = process.hrtime.bigint();
      const report = await runRegex(log, filterSpec, opts);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (opts.json) {
        const body = { lines: report.lines, matches: report.matches, ignored: report.ignored };
        process.stdout.write(`${JSON.stringify(body)}\n`);
      } else process.stdout.write(human(report, filterSpec ?? `jail ${opts.jail}`, log, seconds, opts));
    });
}
