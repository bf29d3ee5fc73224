/**
 * The send grid's rules as pure functions: the sends after a late one catch up, by GRID_CATCH_UP_MS at most, so a
 * long pause is followed by a short burst only (which the send log's rule still counts).
 */
import { describe, expect, it } from 'vitest';
import { GRID_CATCH_UP_MS, nextGridSlot, sendSlotWaitMs } from '../../src/store/repos/send-slots.js';

const interval = 12.5; // --rate 80

describe('nextGridSlot', () => {
  it('keeps the grid when a send is on time or up to GRID_CATCH_UP_MS late, so the next ones catch up', () => {
    expect(nextGridSlot(1_000, interval, 1_000)).toBe(1_000 + interval);
    expect(nextGridSlot(1_000, interval, 1_030)).toBe(1_000 + interval);
    expect(nextGridSlot(1_000, interval, 1_000 + GRID_CATCH_UP_MS)).toBe(1_000 + interval);
  });

  it('after a longer pause, and for a key that never sent (on either backend), catches up GRID_CATCH_UP_MS at most', () => {
    const now = 1_750_000_000_000;
    expect(nextGridSlot(now - 5_000, interval, now)).toBe(now - GRID_CATCH_UP_MS + interval);
    expect(nextGridSlot(null, interval, now)).toBe(now - GRID_CATCH_UP_MS + interval); // SQLite: no row yet
    expect(nextGridSlot(0, interval, now)).toBe(now - GRID_CATCH_UP_MS + interval); // PostgreSQL's new row
  });

  it('so at most GRID_CATCH_UP_MS / interval + 1 sends follow at once before the grid is back to its spacing', () => {
    const now = 1_750_000_000_000;
    let slot = nextGridSlot(null, interval, now);
    let due = 1;
    while (slot <= now) {
      slot = nextGridSlot(slot, interval, now);
      due += 1;
    }
    expect(due).toBe(Math.floor(GRID_CATCH_UP_MS / interval) + 1);
  });
});

describe('sendSlotWaitMs', () => {
  it('waits for the grid, then for the send that must leave the second', () => {
    expect(sendSlotWaitMs([{ nextAtMs: 1_010, lastSeq: 1, holding: 1, leaving: undefined }], 1_000)).toBe(10);
    expect(sendSlotWaitMs([{ nextAtMs: 990, lastSeq: 1, holding: 1, leaving: undefined }], 1_000)).toBe(0);
    // An answered send leaves a second after its answer (strictly), one in flight a second after now at the earliest.
    expect(sendSlotWaitMs([{ nextAtMs: null, lastSeq: 80, holding: 80, leaving: { freeAtMs: 500, answered: true } }], 1_000)).toBe(501);
    expect(sendSlotWaitMs([{ nextAtMs: null, lastSeq: 80, holding: 80, leaving: { freeAtMs: 9_000, answered: false } }], 1_000)).toBe(1_001);
  });
});
