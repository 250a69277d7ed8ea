// One firewall task at a time (read-modify-write steps must not interleave), in arrival order, except
// that an urgent task (a manual ban during a flood) goes ahead of other jails' work. It never passes an
// earlier task of its own jail: a reconcile of that jail queued before it holds a snapshot of the bans
// that must not be applied after the new ban.

/** A queued piece of work; keep it to promote() it later. */
export interface QueuedTask<T> {
  readonly key: string;
  readonly done: Promise<T>;
}

interface Task {
  key: string;
  run: () => Promise<void>;
}

export class TaskQueue {
  private readonly tasks: Task[] = [];
  private running = false;

  /** Queues `work` under `key` (a jail); `done` settles with it. */
  add<T>(key: string, work: () => Promise<T>, urgent = false): QueuedTask<T> {
    let run: () => Promise<void> = async () => {};
    const done = new Promise<T>((resolve, reject) => {
      run = () => work().then(resolve, reject);
    });
    const task = { key, run, done };
    this.tasks.push(task);
    if (urgent) this.promote(task);
    this.pump();
    return task;
  }

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.add(key, work).done;
  }

  /** Moves a queued task ahead of every other jail's, but behind its own jail's earlier tasks. */
  promote(task: QueuedTask<unknown>): void {
    const at = this.tasks.indexOf(task as unknown as Task);
    if (at <= 0) return;
    const [moved] = this.tasks.splice(at, 1) as [Task];
    let to = 0;
    for (let i = 0; i < at; i++) if (this.tasks[i]?.key === task.key) to = i + 1;
    this.tasks.splice(to, 0, moved);
  }

  /** Starts draining on a later microtask, so a caller can finish setting up what it queued. */
  private pump(): void {
    if (this.running) return;
    this.running = true;
    queueMicrotask(() => void this.drain());
  }

  private async drain(): Promise<void> {
    try {
      for (let task = this.tasks.shift(); task !== undefined; task = this.tasks.shift()) {
        try {
          await task.run();
        } catch {
          // run() forwards every outcome to the task's own promise.
        }
      }
    } finally {
      this.running = false;
    }
  }
}
