import type { InboxRepo, IngestJob, IngestOutcome } from '../store/types.js';

interface Pending {
  job: IngestJob;
  resolve: (outcome: IngestOutcome) => void;
  reject: (error: unknown) => void;
}

/** Dedupe keys waiting in memory that start a fold right away (otherwise every FOLD_INTERVAL_MS). */
const FOLD_AT_KEYS = 65_536;
const FOLD_INTERVAL_MS = 10_000;
/** Keys per fold transaction: a chunk holds the write lock for a few milliseconds, between two group commits. */
const FOLD_CHUNK_KEYS = 2_048;

/**
 * Group commit: every delivery that arrives while the event loop is busy goes into ONE SQLite transaction, and
 * each request is answered only after that transaction has committed. One transaction per request is what makes
 * durable ingest slow; many per transaction keeps "stored before 200" and the throughput.
 */
export class GroupCommitter {
  private queue: Pending[] = [];
  private scheduled = false;
  private running: Promise<void> = Promise.resolve();
  private folding = false;
  private readonly foldTimer: NodeJS.Timeout;

  constructor(
    private readonly inbox: InboxRepo,
    private readonly maxBatch = 512,
  ) {
    this.foldTimer = setInterval(() => {
      if (this.inbox.deferredKeys() > 0) this.scheduleFold();
    }, FOLD_INTERVAL_MS).unref();
  }

  submit(job: IngestJob): Promise<IngestOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // After the I/O callbacks of this loop turn: the requests read in this turn share the commit.
        setImmediate(() => {
          this.scheduled = false;
          this.running = this.running.then(() => this.flush());
        });
      }
    });
  }

  /** Resolves when everything submitted so far is committed, keys included (used at shutdown). */
  async drain(): Promise<void> {
    clearInterval(this.foldTimer);
    while (this.queue.length > 0 || this.scheduled || this.folding) {
      await new Promise((resolve) => setImmediate(resolve));
      await this.running;
    }
    await this.running;
    try {
      this.inbox.flushKeys();
    } catch {
      // Not lost: the next start folds them from the stored messages.
    }
  }

  /**
   * Writes the waiting dedupe keys a chunk at a time, each chunk queued behind the group commits already waiting,
   * so a fold never holds up acknowledgements for more than one chunk.
   */
  private scheduleFold(): void {
    if (this.folding) return;
    this.folding = true;
    const step = () => {
      this.running = this.running.then(() => {
        let more = false;
        try {
          more = this.inbox.foldKeys(FOLD_CHUNK_KEYS);
        } catch {
          // Busy or failing disk: nothing is lost. The next fold retries (the keys are still in memory, or after a
          // failure inside the transaction, read again from the stored messages).
        }
        if (more) setImmediate(step);
        else this.folding = false;
      });
    };
    setImmediate(step);
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const outcomes = await this.inbox.ingest(batch.map((p) => p.job));
        batch.forEach((p, i) => p.resolve(outcomes[i]!));
        if (this.inbox.deferredKeys() >= FOLD_AT_KEYS) this.scheduleFold();
      } catch {
        // One bad delivery must not fail the others that shared its transaction: retry them one by one.
        for (const pending of batch) {
          try {
            const [outcome] = await this.inbox.ingest([pending.job]);
            pending.resolve(outcome!);
          } catch (error) {
            pending.reject(error);
          }
        }
      }
    }
  }
}
