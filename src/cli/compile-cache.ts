// Node 22.1+ can keep the compiled code of every module on disk (module.enableCompileCache), which cuts
// the start-up of short client commands. Node 20 has no such function: then this does nothing.
// Must run before the modules to cache are imported, so the bins import everything else dynamically.
import module from 'node:module';

type WithCache = { enableCompileCache?: (dir?: string) => unknown };

export function enableCompileCache(): void {
  try {
    (module as unknown as WithCache).enableCompileCache?.();
  } catch {
    // A cache directory that cannot be written only costs speed.
  }
}
