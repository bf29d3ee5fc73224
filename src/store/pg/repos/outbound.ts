import type { PgDatabase } from '../db.js';
import type { OutboundRepo } from '../../types.js';

export function createOutboundRepo(db: PgDatabase): OutboundRepo {
  void db;
  throw new Error('not yet on PostgreSQL: outbound');
}
