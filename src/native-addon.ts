// Loads one of the package's own C addons (native/, built by `npm ci` through binding.gyp) from where
// node-gyp puts it. Either the module, or one line saying why not, for the caller's warning: an addon is
// never required for the daemon to work.
import { createRequire } from 'node:module';

/** `native/NAME.c`'s module, or why it cannot be used (naming it as `label` says). */
export function loadAddon<T>(name: string, label = name): T | string {
  const file = `build/Release/${name}.node`;
  try {
    // dist/src/ → the package root.
    return createRequire(import.meta.url)(`../../${file}`) as T;
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND';
    return missing ? `the ${label} addon is not built (${file} is missing)` : `the ${label} addon does not load (${(err as Error).message.split('\n')[0]})`;
  }
}
