// Collects what a CLI function writes, so tests can compare exact bytes.
import type { CliIo } from '../../src/cli/cli-io.js';

export interface CapturedIo extends CliIo {
  stdout: string;
  stderr: string;
}

export function captureIo(): CapturedIo {
  const io: CapturedIo = {
    stdout: '',
    stderr: '',
    out: (text) => {
      io.stdout += text;
    },
    err: (text) => {
      io.stderr += text;
    },
  };
  return io;
}
