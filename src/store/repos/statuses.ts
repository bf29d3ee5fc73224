import type { Database } from '../db.js';
import type { NewStatus } from '../types.js';

/** Delivery states of a sent message only move forward: sent → delivered → read; failed is final too. */
export const STATUS_RANK_SQL = `CASE state WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 WHEN 'failed' THEN 3 ELSE 0 END`;
const STATUS_RANK = new Map([
  ['sent', 1],
  ['delivered', 2],
  ['read', 3],
  ['failed', 3],
]);

/** The rank of a status value (0 for any other), for ordering what arrives out of order. */
export const statusRank = (status: string): number => STATUS_RANK.get(status) ?? 0;

/**
 * Status webhooks for messages lumen sent: each (number, wamid, status) kept once, and the state of the message that
 * number sent moved forward only (a status delivered for another number's message changes nothing). Used inside the inbox's group commit, so a status is stored in the transaction that acknowledges it.
 */
export function createStatusWriter(db: Database) {
  const insert = db.prepare(
    `INSERT OR IGNORE INTO message_statuses (wamid, status, integration_id, recipient_id, occurred_at, error_code,
       error_title, error_details, received_at, raw)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const advance = db.prepare(
    `UPDATE outbound_messages SET state = ?, updated_at = ?,
       error_code = COALESCE(?, error_code), error_title = COALESCE(?, error_title),
       error_details = COALESCE(?, error_details)
     WHERE wamid = ? AND integration_id = ? AND ${STATUS_RANK_SQL} < ?`,
  );
  const price = db.prepare(
    `UPDATE outbound_messages SET pricing_model = COALESCE(?, pricing_model), pricing_category = COALESCE(?, pricing_category),
       pricing_type = COALESCE(?, pricing_type), billable = COALESCE(?, billable)
     WHERE wamid = ? AND integration_id = ?`,
  );
  return {
    /** Stores the status unless it is a redelivery (then false) and moves its message's state forward. */
    record(status: NewStatus, receivedAt: string): boolean {
      const written = insert.run(
        status.wamid,
        status.status,
        status.integrationId,
        status.recipientId,
        status.timestamp,
        status.errorCode,
        status.errorTitle,
        status.errorDetails,
        receivedAt,
        JSON.stringify(status.raw),
      );
      if (written.changes === 0) return false;
      const rank = statusRank(status.status);
      if (rank > 0) {
        advance.run(status.status, receivedAt, status.errorCode, status.errorTitle, status.errorDetails, status.wamid, status.integrationId, rank);
      }
      const pricing = status.pricing;
      if (pricing) {
        const billable = pricing.billable === null ? null : pricing.billable ? 1 : 0;
        price.run(pricing.model, pricing.category, pricing.type, billable, status.wamid, status.integrationId);
      }
      return true;
    },
  };
}
