// The opt-in HTTP listener for Prometheus: GET /metrics, nothing else. node:http is enough; the
// endpoint is read-only, and binds to loopback unless the operator wrote another address.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ListenAddress } from '../net/listen-address.js';
import { CONTENT_TYPE } from './metrics-text.js';

export interface MetricsServer {
  /** Where it listens (the real port when 0 was asked). */
  address: ListenAddress;
  close(): Promise<void>;
}

/** A scrape that takes longer than this is cut off (Prometheus' own default timeout is 10 s). */
const REQUEST_TIMEOUT_MS = 10_000;

/** Listens on `at`; rejects (EADDRINUSE, EADDRNOTAVAIL…) when it cannot. */
export function startMetricsServer(at: ListenAddress, collect: () => Promise<string>): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: try /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('Method not allowed\n');
      return;
    }
    collect().then(
      (body) => {
        res.writeHead(200, { 'content-type': CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`metrics failed: ${(err as Error).message}\n`);
      },
    );
  });
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = REQUEST_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: at.host, port: at.port }, () => {
      server.off('error', reject);
      const bound = server.address() as AddressInfo;
      resolve({
        address: { host: at.host, port: bound.port },
        close: () =>
          new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
