// Loads a node: builtin when it is first needed instead of when the importing module is. The daemon
// lives for months at idle: a module it never uses there (worker_threads for a jail that matches in a
// thread, dns for `usedns`/`ignoreip` names, v8) would cost it memory for nothing (measured on node 20:
// worker_threads 1.2 MB, dns/promises 0.7 MB, v8 1.7 MB of RSS). Synchronous, so a caller can load at
// configuration time (never on a hot path), and usable from scripts/bundle.mjs's CommonJS bundles,
// where import() does not run. process.getBuiltinModule is node 20.16+; require before that.
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

export const builtin: NodeJS.Process['getBuiltinModule'] =
  process.getBuiltinModule?.bind(process) ?? ((id: string) => load(id) as object);
