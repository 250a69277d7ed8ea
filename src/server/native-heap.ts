// Returns the C heap's freed pages to the kernel (native/malloc_trim.c). glibc keeps what node's threads
// free, V8's compiler zones above all, and an idle daemon never gives it back: after start-up that was
// ~2.5 MB of its resident memory (`gdb -p PID -ex 'call malloc_trim(0)'` on the idle daemon, 59.9 → 57.2
// MB). The daemon trims once start-up has settled and 5 minutes after lines start arriving, so that a burst's garbage
// does not stay resident either. Without the addon (not built) this does nothing.
import { loadAddon } from '../native-addon.js';

let addon: { trim(): boolean } | string | undefined;

/** Hands freed C heap back to the kernel; false when there was nothing to give or no addon. */
export function releaseFreedNativeMemory(): boolean {
  addon ??= loadAddon<{ trim(): boolean }>('malloc_trim');
  return typeof addon === 'string' ? false : addon.trim();
}
