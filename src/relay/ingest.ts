import type { InboxRepo, IngestJob, IngestOutcome } from '../store/types.js';

interface Pending {
  job: IngestJob;
  resolve: (outcome: IngestOutcome) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: every delivery that arrives while the event loop is busy goes into ONE transaction, and each request
 * is answered only after that transaction has committed. One transaction per request is what makes durable ingest
 * slow; many per transaction keeps "stored before 200" and the throughput. Holds nothing but the requests waiting
 * for their commit: what is a duplicate is the database's decision.
 */
export class GroupCommitter {
  private queue: Pending[] = [];
  private scheduled = false;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly inbox: InboxRepo,
    private readonly maxBatch = 512,
  ) {}

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

  /** Resolves when everything submitted so far is committed (used at shutdown). */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.scheduled) {
      await new Promise((resolve) => setImmediate(resolve));
      await this.running;
    }
    await this.running;
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const outcomes = await this.inbox.ingest(batch.map((p) => p.job));
        batch.forEach((p, i) => p.resolve(outcomes[i]!));
      } catch {
        // One bad delivery must not fail the others that shared its transaction: retry them one by one. (A fault of
        // the disk fails each of them too, and each is then answered 503.)
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
