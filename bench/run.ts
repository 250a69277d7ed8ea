// `npm run bench`: runs every benchmark in bench/ one after another (they share two cores; running them
// together would measure contention) and writes bench/RESULTS.md: one table, each figure with the
// command that produced it, the machine and the date.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const benches = ['regex', 'client', 'daemon', 'firewall', 'flood', 'compare', 'fleet', 'policy'];
const only = process.argv.slice(2);

interface Row {
  figure: string;
  value: string;
  target: string;
  reached: string;
  command: string;
}

const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
const rows: Row[] = [];
let failed = false;

for (const name of benches.filter((b) => only.length === 0 || only.includes(b))) {
  const command = `node dist/bench/${name}.js`;
  console.log(`\n== ${command}`);
  const started = Date.now();
  const run = spawnSync(process.execPath, ['--enable-experimental-regexp-engine-on-excessive-backtracks', join(root, 'dist', 'bench', `${name}.js`)], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  for (const line of run.stdout.split('\n')) {
    if (line.startsWith('RESULT\t')) {
      const [, figure = '', value = '', target = '', reached = ''] = line.split('\t');
      rows.push({ figure, value, target, reached, command });
    } else if (line !== '') console.log(line);
  }
  console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
  if (run.status !== 0) {
    failed = true;
    rows.push({ figure: `${name}: FAILED (exit ${run.status})`, value: '', target: '', reached: '', command });
  }
}

const cell = (s: string) => s.replaceAll('|', '\\|');
const resultsPath = join(root, 'bench', 'RESULTS.md');
const previous = existsSync(resultsPath) ? readFileSync(resultsPath, 'utf8') : '';
// A partial run (`npm run bench -- regex client`) replaces only its own rows: the others are kept as
// the earlier run measured them, and the header says which rows come from which run.
// Each row's command cell carries the date of the run that produced it.
const rerun = new Set(benches.filter((b) => only.length === 0 || only.includes(b)));
const benchOf = (row: string) => /`node dist\/bench\/([\w-]+)\.js/.exec(row.split(' | ').at(-1) ?? '')?.[1] ?? '';
// Only figure rows (they name their bench's command), and only from the table, not from the notes.
const MARKER = '<!-- notes: kept across runs -->';
const previousTable = previous.includes(MARKER) ? previous.slice(0, previous.indexOf(MARKER)) : previous;
const kept = only.length === 0 ? [] : previousTable.split('\n').filter((l) => l.startsWith('| ') && benchOf(l) !== '' && !rerun.has(benchOf(l)));
const when = kept.length === 0 ? `Date: ${date} UTC.` : `Rows from several runs: each command is followed by the date of its run (the latest: ${date} UTC).`;
// Hand-written notes (goals reached, profile findings) below the marker survive a new run.
const notes = previous.includes(MARKER) ? previous.slice(previous.indexOf(MARKER)) : '';
const table = [
  '| figure | value | target | reached | command |',
  '| --- | --- | --- | --- | --- |',
  ...rows.map((r) => `| ${cell(r.figure)} | ${cell(r.value)} | ${cell(r.target)} | ${r.reached} | \`${r.command}\` (${date} UTC) |`),
  ...kept,
].join('\n');
writeFileSync(
  resultsPath,
  `# Benchmark results\n\nMachine: ${machine}. ${when} Produced by \`npm run bench\`; every comparison ran Debian's fail2ban in the same run, on the same input. Every program, ours and Fail2Ban's, ran without NODE_EXTRA_CA_CERTS, as in a docker-mailserver container (bench/dms-environment.ts).\n\n${table}\n${notes ? `\n${notes}` : ''}`,
);
console.log(`\nwrote bench/RESULTS.md (${rows.length} figures)`);
process.exit(failed ? 1 : 0);
