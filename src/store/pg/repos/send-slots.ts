import type { PgDatabase } from '../db.js';
import type { SendSlotRepo } from '../../types.js';

export function createSendSlotRepo(db: PgDatabase): SendSlotRepo {
  void db;
  throw new Error('not yet on PostgreSQL: send-slots');
}
