// What every log source (files, the systemd journal) gives the daemon, and what it needs from the store.
//
// Wiring, one source per jail:
//   backend systemd → new JournalSource({ key: jail.name, matches: jail.filter.journalmatch, since: now − findtime,
//                                         cursors, encoding: jail.logencoding, onBatch, onError })
//   otherwise       → new FileSource({ paths: jail.logpaths, encoding: jail.logencoding, positions, onBatch, onError })
//   await source.start() at start-up (a UserError means the jail cannot run), await source.stop() on
//   shutdown or reload. `positions`/`cursors` are the jail store's, scoped to the jail.
//
// Delivery contract (at-least-once):
// - A source calls `onBatch` with complete lines only, in order within one file, and never calls it again
//   before the promise of the previous call has settled. Returning (or resolving) is the acknowledgement.
// - Only after the acknowledgement does the source persist its position (file offset or journal cursor).
//   A crash between the acknowledgement and the save replays at most that one batch on restart, and a
//   crash before the acknowledgement replays it too: nothing is lost, and at most one batch per source is
//   seen twice. The jail counts failures in memory (lost on a crash anyway) and bans are idempotent, so a
//   replayed batch cannot double-ban.
// - If `onBatch` throws or rejects, the source reports the error through `onError` and treats the batch as
//   handled: a batch that always fails must not stall the log or be replayed forever.
// - The arrays in a batch belong to the receiver; the source never touches them again.
import type { FilePosition } from '../files/position.js';

/** Re-exported for the sources' users; defined in the files/ leaf so that store/ need not import sources/. */
export type { FilePosition };

/** A burst of complete lines from one file (or from the journal). */
export interface LineBatch {
  /** The file the lines were read from (a glob is expanded to real paths), or `journal` for the journal. */
  path: string;
  /** Complete lines without their line ending, decoded with the source's encoding and capped in length. */
  lines: string[];
  /**
   * The time of each line in epoch seconds, when the source knows it (the journal does: the entry's
   * realtime timestamp). Same length as `lines`. Absent for files: the filter reads the date from the text.
   */
  times?: number[];
}

/** Receives a batch; resolve when it has been handled (see the delivery contract above). */
export type BatchHandler = (batch: LineBatch) => void | Promise<void>;

/** Non-fatal problems (unreadable file, journalctl died). One clear line each; the source keeps going. */
export type SourceErrorHandler = (err: Error) => void;

export interface Source {
  /** Opens what it reads and starts delivering. Rejects with a UserError when it cannot run at all. */
  start(): Promise<void>;
  /** Stops watching; resolves once no further `onBatch` call will be made and every handle is closed. */
  stop(): Promise<void>;
}

type MaybePromise<T> = T | Promise<T>;

/** Persists file positions, one per path. The jail store implements it (scoped to one jail). */
export interface PositionStore {
  get(path: string): MaybePromise<FilePosition | null | undefined>;
  set(path: string, position: FilePosition): MaybePromise<void>;
}

/** Persists the journal cursor (`__CURSOR`), one per key (the jail name). */
export interface CursorStore {
  get(key: string): MaybePromise<string | null | undefined>;
  set(key: string, cursor: string): MaybePromise<void>;
}
