#!/usr/bin/env node
// `fail2ban-client` by its old path (tests and older images link it): the same as fail2ban-client.cts.
import loader from './bundle-loader.cjs';
import { enableCompileCache } from './compile-cache.js';

if (!(await loader.runBundle('fail2ban-client'))) {
  enableCompileCache();
  await import('./fail2ban-client-run.js');
}
