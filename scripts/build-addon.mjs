// `npm ci`/`npm install` run this (package.json "install"): builds the addons in binding.gyp with npm's
// own node-gyp, as better-sqlite3's native module is built: native/nfnetlink.c, which writes ban set
// elements straight to the kernel (src/firewall/nftables-netlink.ts), and native/malloc_trim.c
// (src/server/native-heap.ts). A failed build does not fail the install: the daemon then writes elements
// through `nft -f -` and says so in one warning line, and keeps freed C heap resident.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

if (process.platform !== 'linux') process.exit(0);
const gyp = process.env.npm_config_node_gyp ?? join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');
const args = [gyp, 'rebuild', '--release'];
// Node's headers where the distribution installed them (Debian, NodeSource), else node-gyp downloads them.
const prefix = dirname(dirname(process.execPath));
if (existsSync(join(prefix, 'include/node/node_api.h'))) args.push(`--nodedir=${prefix}`);
const result = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
if (result.status !== 0) {
  const why = (result.stderr ?? '').split('\n').find((l) => /error/i.test(l))?.trim() ?? `exit ${result.status}`;
  console.warn(`portcullis: the native addons were not built (${why}); bans will go through nft -f -, slow with many bans. Install python3, make and g++, then run npm rebuild portcullis.`);
}
