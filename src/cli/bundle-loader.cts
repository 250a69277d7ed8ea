// Runs a command from its bundle: one CommonJS script that scripts/bundle.mjs builds from the command's
// modules at `npm run build`. Profiling `fail2ban-client status JAIL` showed Node's ESM loader (resolving,
// reading and compiling ~20 files one by one) costing more than the command itself; one script compiled
// from V8's code cache skips most of that. The cache (BUNDLE.cache) is written on first use and again
// whenever V8 rejects it (another Node version or other flags): a stale cache only costs speed.
// Works the same on Node 20, 22 and 24: it uses only vm.Script's public cachedData API.
// CommonJS (.cts), so that the `fail2ban-client` bin starts without Node's ESM loader at all.
import fs = require('node:fs');
import path = require('node:path');
import url = require('node:url');
import vm = require('node:vm');

type BundleMain = (dir: string, require: NodeJS.Require, url: (id: string) => string) => Promise<unknown>;

/** Where `npm run build` puts the bundle of COMMAND. */
function bundlePath(command: string): string {
  return path.join(__dirname, `${command}.bundle.cjs`);
}

/**
 * Runs COMMAND's bundle to completion. False when there is no bundle (a build by tsc alone): the caller
 * then imports the modules. `codeCache: false` compiles from source every time (see fail2ban-server.cts).
 */
async function runBundle(command: string, { codeCache = true }: { codeCache?: boolean } = {}): Promise<boolean> {
  const file = bundlePath(command);
  let source: string;
  try {
    // bundle.mjs writes pure ASCII: Latin-1 reads it without UTF-8 decoding.
    source = fs.readFileSync(file, 'latin1');
  } catch {
    return false;
  }
  const cacheFile = `${file}.cache`;
  let cachedData: Buffer | undefined;
  try {
    if (codeCache) cachedData = fs.readFileSync(cacheFile);
  } catch {
    // First run: compiled from source, and the cache is written below.
  }
  const script = new vm.Script(source, { filename: file, cachedData });
  const main = script.runInThisContext() as BundleMain;
  await main(__dirname, require, fileUrl);
  if (codeCache && (cachedData === undefined || script.cachedDataRejected === true)) saveCache(script, cacheFile);
  return true;
}

/** A bundled module's URL, for the modules that read import.meta.url. */
function fileUrl(id: string): string {
  return url.pathToFileURL(path.join(__dirname, id)).href;
}

/** After the run, so the cache also holds the functions this command compiled. */
function saveCache(script: vm.Script, cacheFile: string): void {
  const tmp = `${cacheFile}.${process.pid}`;
  try {
    fs.writeFileSync(tmp, script.createCachedData());
    fs.renameSync(tmp, cacheFile);
  } catch {
    // A read-only install only loses the cache.
  }
}

export = { bundlePath, runBundle };
