import { describeSystemFault } from '../store/faults.js';

/**
 * A background worker's loop: `work()` runs until it finds nothing to do; `wake()` (after a commit) runs it again,
 * at most one run at a time (a wake during a run schedules one more), and a timer wakes it every `pollMs` for work
 * that came due. When a run fails (the database refused a write), it backs off (1 s, doubling, at most a minute)
 * and tells `onFailure`; the process stays up. Nothing here is the truth: the work is claimed in the database.
 */
export class WorkLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private wanted = false;
  private stopped = false;
  private failures = 0;
  private resumeAt = 0;

  constructor(
    private readonly work: () => Promise<void>,
    private readonly onFailure: (message: string) => void,
    private readonly clock: () => Date,
    private readonly pollMs = 1000,
  ) {}

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.wake(), this.pollMs);
    this.timer.unref();
    this.wake();
  }

  wake(): void {
    if (this.stopped || this.clock().getTime() < this.resumeAt) return;
    if (this.running) {
      this.wanted = true;
      return;
    }
    this.running = this.work()
      .then(
        () => {
          this.failures = 0;
        },
        (error: unknown) => {
          this.failures += 1;
          this.resumeAt = this.clock().getTime() + Math.min(60_000, 1000 * 2 ** (this.failures - 1));
          this.onFailure(describeSystemFault(error)?.message ?? (error instanceof Error ? error.message : String(error)));
        },
      )
      .finally(() => {
        this.running = undefined;
        if (this.wanted && !this.stopped) {
          this.wanted = false;
          this.wake();
        }
      });
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Stops taking new work and waits for the run under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}

/**
 * A relay worker (dispatch, forwarding, media) on a WorkLoop: `start`, `wake` after a commit, `stop` waiting for the
 * run under way. A failed run is told as "<what> paused: …; retrying."
 */
export abstract class LoopedWorker {
  protected readonly loop: WorkLoop;

  constructor(what: string, onEvent: ((event: { event: 'error'; message: string }) => void) | undefined, clock: () => Date, pollMs?: number) {
    this.loop = new WorkLoop(() => this.work(), (message) => onEvent?.({ event: 'error', message: `${what} paused: ${message}; retrying.` }), clock, pollMs);
  }

  protected abstract work(): Promise<void>;

  start(): void {
    this.loop.start();
  }

  /** Looks for due work now (called after each commit). */
  wake(): void {
    this.loop.wake();
  }

  /** Stops taking new work and waits for the run under way. */
  async stop(): Promise<void> {
    await this.loop.stop();
  }
}
