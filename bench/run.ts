// `npm run bench`: runs every benchmark in bench/ one after another (they share two cores; running them
// together would measure contention) and writes bench/RESULTS.md: one table, each figure with the
// command that produced it, the machine and the date.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const benches = ['regex', 'client', 'daemon', 'firewall', 'flood', 'compare'];
const only = process.argv.slice(2);

interface Row {
  figure: string;
  value: string;
  target: string;
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
      const [, figure = '', value = '', target = ''] = line.split('\t');
      rows.push({ figure, value, target, command });
    } else if (line !== '') console.log(line);
  }
  console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
  if (run.status !== 0) {
    failed = true;
    rows.push({ figure: `${name}: FAILED (exit ${run.status})`, value: '', target: '', command });
  }
}

const cell = (s: string) => s.replaceAll('|', '\\|');
const table = [
  '| figure | value | target | command |',
  '| --- | --- | --- | --- |',
  ...rows.map((r) => `| ${cell(r.figure)} | ${cell(r.value)} | ${cell(r.target)} | \`${r.command}\` |`),
].join('\n');
writeFileSync(
  join(root, 'bench', 'RESULTS.md'),
  `# Benchmark results\n\nMachine: ${machine}. Date: ${date} UTC. Produced by \`npm run bench\`; every comparison ran Debian's fail2ban in the same run, on the same input.\n\n${table}\n`,
);
console.log(`\nwrote bench/RESULTS.md (${rows.length} figures)`);
process.exit(failed ? 1 : 0);
