// A one-shot timer armed for the soonest time asked of it: how the daemon waits for work due at a known
// time (a ban's end, a buffered write) instead of ticking. An idle daemon then runs no JavaScript at all,
// which matters beyond CPU wakeups: a tick every second made V8 optimise node's own small functions
// within a minute, and the first optimising compile leaves ~3.3 MB of node's compiler code resident
// (bench/daemon.ts's idle RSS over time).

/** setTimeout's longest delay (2^31 - 1 ms, about 24.8 days); a later alarm re-arms when it is reached. */
const MAX_DELAY_MS = 2 ** 31 - 1;

export class Alarm {
  #timer: NodeJS.Timeout | null = null;
  #at = Number.POSITIVE_INFINITY;

  /** `ring` runs when the alarm goes off; what it throws goes to `failed`. */
  constructor(
    private readonly ring: () => void,
    private readonly failed: (err: Error) => void,
  ) {}

  /** When it rings (ms since the epoch); Infinity when not armed. */
  get armedFor(): number {
    return this.#at;
  }

  /** Rings at `at` (ms since the epoch), or at the time it is armed for already when that is sooner. */
  at(at: number): void {
    if (!(at < this.#at)) return;
    this.cancel();
    this.#at = at;
    this.#timer = setTimeout(() => this.#fire(), Math.min(Math.max(0, at - Date.now()), MAX_DELAY_MS));
    // Never what keeps the process alive: the control socket and the sources do that.
    this.#timer.unref();
  }

  /** Rings `ms` from now, or sooner when armed for sooner. */
  in(ms: number): void {
    this.at(Date.now() + ms);
  }

  cancel(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#at = Number.POSITIVE_INFINITY;
  }

  #fire(): void {
    const at = this.#at;
    this.#timer = null;
    this.#at = Number.POSITIVE_INFINITY;
    // Only a delay cut to MAX_DELAY_MS can end early.
    if (at - Date.now() > 1000) {
      this.at(at);
      return;
    }
    try {
      this.ring();
    } catch (err) {
      this.failed(err as Error);
    }
  }
}
