// The body of the `portcullis` command, run from its bundle (see bundle-loader.cts) or, when the bundle
// was not built, imported by main.ts.
import { runCli } from './program.js';

// `portcullis regex ... | head` closes the pipe early: the reader's choice, not an error to report.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(0);
});

process.exitCode = await runCli(process.argv.slice(2));
