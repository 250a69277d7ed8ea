import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startMetricsServer } from './metrics-http.js';

test('serves GET /metrics in the text format; other paths 404, other methods 405', async () => {
  let scrapes = 0;
  const server = await startMetricsServer({ host: '127.0.0.1', port: 0 }, async () => {
    scrapes++;
    return '# HELP f2b_up Up\n# TYPE f2b_up gauge\nf2b_up 1\n';
  });
  try {
    const base = `http://127.0.0.1:${server.address.port}`;
    const ok = await fetch(`${base}/metrics`);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(await ok.text(), '# HELP f2b_up Up\n# TYPE f2b_up gauge\nf2b_up 1\n');
    assert.equal((await fetch(`${base}/`)).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST', body: 'x' })).status, 405);
    assert.equal(scrapes, 1);
  } finally {
    await server.close();
  }
});

test('a collector that fails answers 500 with the reason; a busy port rejects', async () => {
  const server = await startMetricsServer({ host: '127.0.0.1', port: 0 }, () => Promise.reject(new Error('boom')));
  try {
    const res = await fetch(`http://127.0.0.1:${server.address.port}/metrics`);
    assert.equal(res.status, 500);
    assert.equal(await res.text(), 'metrics failed: boom\n');
    await assert.rejects(startMetricsServer({ host: '127.0.0.1', port: server.address.port }, async () => ''), /EADDRINUSE/);
  } finally {
    await server.close();
  }
});
