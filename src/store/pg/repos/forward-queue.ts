import type { PgDatabase } from '../db.js';
import type { ForwardQueueRepo } from '../../repos/forward-queue.js';

export function createForwardQueueRepo(db: PgDatabase, table: 'webhook_events' | 'raw_deliveries'): ForwardQueueRepo {
  void db;
  throw new Error('not yet on PostgreSQL: forward-queue');
}
