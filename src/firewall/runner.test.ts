import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandRunner } from './runner.js';

test('a command runs as argv with stdin, and its output and exit code come back', async () => {
  const result = await commandRunner()(['sh', '-c', 'cat; echo err >&2; exit 3'], 'in\n');
  assert.deepEqual(result, { code: 3, stdout: 'in\n', stderr: 'err\n' });
});

test('a hanging tool is killed after the timeout and reported as failed (code 124)', async () => {
  const started = Date.now();
  const result = await commandRunner([], 200)(['sleep', '30']);
  assert.equal(result.code, 124);
  assert.match(result.stderr, /^sleep did not finish within 0\.2 s and was killed$/);
  assert.ok(Date.now() - started < 5000);
});

test('a missing program gives 127', async () => {
  assert.equal((await commandRunner()(['/nonexistent/portcullis-tool'])).code, 127);
});

test('a timed-out wrapper script is killed with what it started, and the timeout is reported at once', async () => {
  const started = Date.now();
  // The script's child keeps stdout open: waiting for the pipes to close would wait for it.
  const result = await commandRunner([], 300)(['sh', '-c', 'sleep 30; echo late']);
  assert.equal(result.code, 124);
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
});

test('a command may be given more time than the runner allows by default', async () => {
  const run = commandRunner([], 200);
  assert.equal((await run(['sleep', '0.5'])).code, 124);
  assert.equal((await run(['sleep', '0.5'], undefined, { extraTimeoutMs: 1000 })).code, 0);
});
