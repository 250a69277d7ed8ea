// Follows a jail's `logpath`s (files and globs) the way `tail -F` does and delivers batches of complete
// lines. Change detection has two layers: fs.watch (inotify) on each file's directory makes delivery
// prompt, and fs.watchFile on each path, every `pollIntervalMs`, is the safety net, because inotify misses
// events across rotation, on network and overlay filesystems, and when its watch limit is reached. Either
// only marks a file "dirty"; one worker loop reads dirty files one after another, so `onBatch` is never
// re-entered and a burst is read in large chunks however many events it raised. Rotation handling: see
// followed-file.ts.
//
// An idle source runs no JavaScript. fs.watchFile is libuv's uv_fs_poll: it stats the path in the
// threadpool and calls into JS only when the stat differs (size, times, inode…), where a JS poll read every
// file every second and made V8 optimise node's own small functions, whose compiled code stays resident
// (~3.3 MB each time, measured on the idle daemon). Only while a rotated-away file is still being drained
// (or a file waits for another follower to let go of it) does a timer re-poll, as neither shows in the
// path's stat.
import { type FSWatcher, type StatsListener, unwatchFile, watch, watchFile } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { LogPath } from '../config/model.js';
import { decoderFor } from './encoding.js';
import { FollowedFile, type FollowContext } from './followed-file.js';
import { expandGlob, globBaseDir, hasMagic, segmentRegExp } from '../files/glob.js';
import type { BatchHandler, FilePosition, PositionStore, Source, SourceErrorHandler } from './source.js';

export interface FileSourceOptions {
  /** The jail's `logpath` entries: paths or globs, each with its start mode. */
  paths: LogPath[];
  onBatch: BatchHandler;
  /** Saved positions; without it every start uses the `start` mode of the path. */
  positions?: PositionStore;
  onError?: SourceErrorHandler;
  /** Fail2Ban's `logencoding` (`auto` = UTF-8). */
  encoding?: string;
  /** Safety-net stat of every path (ms): the latency bound where inotify says nothing. Default 1000. */
  pollIntervalMs?: number;
  /** Re-expansion of globs (ms); fs.watch also triggers it for names in the glob's directory. Default 1000. */
  globIntervalMs?: number;
  /** Use fs.watch for prompt delivery. Default true; false leaves polling alone. */
  watch?: boolean;
  /** Bytes per read, and so the largest batch. Default 64 KiB. */
  chunkBytes?: number;
  /** Longer lines are truncated to this many bytes (see line-splitter.ts). Default 64 KiB. */
  maxLineBytes?: number;
  /** How long a rotated-away file is still read after its last growth (ms). Default 2000. */
  rotateGraceMs?: number;
}

/** Remembered rotated-away files; bounded because a host rotates forever. */
const RETIRED_MEMORY = 256;

export class FileSource implements Source {
  private readonly followers = new Map<string, FollowedFile>();
  private readonly watchers = new Map<string, FSWatcher>();
  /** The fs.watchFile listener of each followed path, to remove exactly ours (jails may share a path). */
  private readonly statWatches = new Map<string, StatsListener>();
  private readonly dirty = new Set<FollowedFile>();
  private readonly retired = new Map<string, FilePosition>();
  private readonly ctx: FollowContext;
  private readonly globs: Array<{ pattern: string; dir: string; name: RegExp | null }>;
  private readonly explicit: Set<string>;
  private loop: Promise<void> | null = null;
  private globDue = false;
  private timers: NodeJS.Timeout[] = [];
  private settleTimer: NodeJS.Timeout | null = null;
  /** Followers whose stat watch just started: polled once more after `pollIntervalMs` (see watchStat). */
  private readonly fresh = new Set<FollowedFile>();
  private readonly pollIntervalMs: number;
  private readonly watching: boolean;
  private isStopped = false;

  constructor(private readonly options: FileSourceOptions) {
    const maxLineBytes = options.maxLineBytes ?? 65536;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.watching = options.watch ?? true;
    this.ctx = {
      chunk: Buffer.allocUnsafe(options.chunkBytes ?? 65536),
      decode: decoderFor(options.encoding ?? 'auto'),
      maxLineBytes,
      rotateGraceMs: options.rotateGraceMs ?? 2000,
      positions: options.positions ? this.guarded(options.positions) : null,
      deliver: (path, lines) => this.deliver(path, lines),
      retired: (position) => this.remember(position),
      retiredAt: (dev, ino) => this.retired.get(`${dev}:${ino}`),
      claimed: (dev, ino) => {
        const key = `${dev}:${ino}`;
        for (const f of this.followers.values()) if (f.openInodes().includes(key)) return true;
        return false;
      },
      stopped: () => this.isStopped,
    };
    this.explicit = new Set(options.paths.filter((p) => !hasMagic(p.pattern)).map((p) => resolve(p.pattern)));
    this.globs = options.paths
      .filter((p) => hasMagic(p.pattern))
      .map((p) => {
        const dir = globBaseDir(p.pattern);
        // Only a glob whose wildcards are all in the last segment can be matched against watch events.
        const rest = p.pattern.slice(dir.length + 1);
        return { pattern: p.pattern, dir, name: rest.includes('/') ? null : segmentRegExp(rest) };
      });
  }

  /** The real paths being followed now (globs expanded). */
  files(): string[] {
    return [...this.followers.keys()];
  }

  async start(): Promise<void> {
    for (const logPath of this.options.paths) {
      for (const path of await expandGlob(logPath.pattern)) await this.follow(path, logPath.start);
    }
    if (this.watching) this.watchDirectories();
    for (const f of this.followers.values()) this.watchStat(f);
    if (this.globs.length > 0) {
      this.timers.push(setInterval(() => this.requestGlob(), this.options.globIntervalMs ?? 1000));
    }
    for (const f of this.followers.values()) this.markDirty(f);
  }

  async stop(): Promise<void> {
    this.isStopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = null;
    for (const [path, listener] of this.statWatches) unwatchFile(path, listener);
    this.statWatches.clear();
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    await this.loop;
    await Promise.all([...this.followers.values()].map((f) => f.close()));
  }

  private async follow(path: string, startAt: 'head' | 'tail'): Promise<void> {
    if (this.followers.has(path)) return;
    const follower = new FollowedFile(path, this.ctx);
    const saved = (await this.options.positions?.get(path)) ?? null;
    try {
      await follower.open(startAt, saved);
    } catch (err) {
      // Unreadable now (permissions, I/O): say so, and try again whenever its stat changes (chmod, chown).
      // A file unreadable for good (a directory) is then not polled in vain.
      this.report(new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`));
    }
    this.followers.set(path, follower);
  }

  private markDirty(f: FollowedFile): void {
    if (this.isStopped) return;
    this.dirty.add(f);
    this.kick();
  }

  private requestGlob(): void {
    if (this.isStopped) return;
    this.globDue = true;
    this.kick();
  }

  private kick(): void {
    this.loop ??= this.work().finally(() => {
      this.loop = null;
      this.settleLater();
    });
  }

  /**
   * The safety net on one followed path: libuv stats it every `pollIntervalMs` and calls back only when
   * the stat changed (created, grown, truncated, replaced, deleted, chmod). A change is also the moment to
   * retry the directory watches that failed (directory missing, inotify limit reached).
   */
  private watchStat(f: FollowedFile): void {
    if (this.statWatches.has(f.path)) return;
    const listener: StatsListener = () => {
      if (this.watching) this.watchDirectories();
      this.markDirty(f);
    };
    watchFile(f.path, { persistent: false, interval: this.pollIntervalMs }, listener);
    this.statWatches.set(f.path, listener);
    // libuv compares each stat with the one before, the first taken now, in the threadpool: a write that
    // lands just before that first stat but after the read it races with would otherwise wait for the next
    // change. One more poll after an interval closes that gap.
    this.fresh.add(f);
  }

  private unwatchStat(path: string): void {
    const listener = this.statWatches.get(path);
    if (listener) unwatchFile(path, listener);
    this.statWatches.delete(path);
  }

  /** Re-polls, after `pollIntervalMs`, the followers that are settling (see FollowedFile.settling) or fresh. */
  private settleLater(): void {
    if (this.isStopped || this.settleTimer) return;
    if (this.fresh.size === 0 && ![...this.followers.values()].some((f) => f.settling())) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = null;
      for (const f of this.followers.values()) if (f.settling() || this.fresh.has(f)) this.markDirty(f);
      this.fresh.clear();
    }, this.pollIntervalMs);
  }

  private async work(): Promise<void> {
    while (!this.isStopped && (this.dirty.size > 0 || this.globDue)) {
      if (this.globDue) {
        this.globDue = false;
        await this.expandGlobs().catch((err: Error) => this.report(new Error(`expanding logpath globs failed: ${err.message}`)));
      }
      const batch = [...this.dirty];
      this.dirty.clear();
      for (const f of batch) {
        if (this.isStopped) break;
        const err = await f.poll(Date.now());
        if (err) this.report(err);
      }
    }
  }

  /**
   * New files matching a glob are opened by their follower's next poll (see FollowedFile.openNext). A
   * glob's file that is gone and finished is dropped, so dated rotation names do not pile up; a path named
   * without wildcards is followed forever, like `tail -F`.
   */
  private async expandGlobs(): Promise<void> {
    const matched = new Set<string>();
    for (const glob of this.globs) {
      for (const path of await expandGlob(glob.pattern)) {
        matched.add(path);
        if (this.followers.has(path)) continue;
        const follower = new FollowedFile(path, this.ctx);
        this.followers.set(path, follower);
        if (this.watching) this.watchDirectories();
        this.watchStat(follower);
        this.markDirty(follower);
      }
    }
    for (const [path, f] of this.followers) {
      if (!matched.has(path) && !this.explicit.has(path) && f.idle()) {
        this.followers.delete(path);
        this.dirty.delete(f);
        this.fresh.delete(f);
        this.unwatchStat(path);
      }
    }
  }

  private remember(position: FilePosition): void {
    const key = `${position.dev}:${position.ino}`;
    this.retired.delete(key);
    this.retired.set(key, position);
    if (this.retired.size > RETIRED_MEMORY) this.retired.delete(this.retired.keys().next().value!);
  }

  /** Watches the directory of every file and every glob (a file's own watch dies with rotation). */
  private watchDirectories(): void {
    const dirs = new Set([...this.followers.keys()].map((p) => dirname(p)));
    for (const g of this.globs) dirs.add(g.dir);
    for (const dir of dirs) {
      if (this.watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => this.onEvent(dir, name));
        // A removed directory or an exhausted inotify limit: the stat poll carries on; retried on a change.
        w.on('error', () => {
          w.close();
          this.watchers.delete(dir);
        });
        this.watchers.set(dir, w);
      } catch {
        // Directory missing or watch unsupported: the stat poll covers it.
      }
    }
  }

  private onEvent(dir: string, name: string | Buffer | null): void {
    const file = name === null ? null : name.toString();
    let known = false;
    for (const [path, f] of this.followers) {
      if (dirname(path) === dir && (file === null || basename(path) === file)) {
        this.markDirty(f);
        known = true;
      }
    }
    if (known) return;
    for (const g of this.globs) {
      if (g.dir === dir && (file === null || g.name === null || g.name.test(file))) {
        this.requestGlob();
        return;
      }
    }
  }

  /** A store that fails (disk full, locked database) must not stop the reading: say so and go on. */
  private guarded(store: PositionStore): PositionStore {
    return {
      get: (path) => store.get(path),
      set: async (path, position) => {
        try {
          await store.set(path, position);
        } catch (err) {
          this.report(new Error(`cannot save the position of ${path}: ${err instanceof Error ? err.message : err}`));
        }
      },
    };
  }

  private async deliver(path: string, lines: string[]): Promise<void> {
    try {
      await this.options.onBatch({ path, lines });
    } catch (err) {
      this.report(new Error(`handling lines of ${path} failed: ${err instanceof Error ? err.message : err}`));
    }
  }

  private report(err: Error): void {
    this.options.onError?.(err);
  }
}
