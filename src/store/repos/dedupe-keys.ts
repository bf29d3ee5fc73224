import type { Database } from '../db.js';

/**
 * The dedupe key of a message: a 53-bit hash (cyrb53) of integration id, NUL, wamid. Stored on disk in
 * interaction_keys, so it must never change. Collisions are allowed (the full wamid is compared on a hit).
 */
export function dedupeKey(integrationId: string, wamid: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < integrationId.length; i++) {
    const ch = integrationId.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1, 2654435761);
  h2 = Math.imul(h2, 1597334677);
  for (let i = 0; i < wamid.length; i++) {
    const ch = wamid.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/**
 * Keys not yet in interaction_keys: an open-addressing hash table in two typed arrays, allocated at the first key
 * (most commands never store a message) and then kept, so that a busy relay makes no garbage for them. A slot is
 * empty when its seq is 0 (AUTOINCREMENT never hands out 0).
 */
class KeyTable {
  private keys = new Float64Array(0);
  private seqs = new Float64Array(0);
  private readonly mask: number;
  size = 0;

  constructor(readonly capacity: number) {
    this.mask = capacity - 1;
  }

  get(h: number): number | undefined {
    if (this.size === 0) return undefined;
    for (let i = (h >>> 0) & this.mask; this.seqs[i] !== 0; i = (i + 1) & this.mask) {
      if (this.keys[i] === h) return this.seqs[i];
    }
    return undefined;
  }

  /** For a key not in the table. */
  add(h: number, seq: number): void {
    if (this.seqs.length === 0) {
      this.keys = new Float64Array(this.capacity);
      this.seqs = new Float64Array(this.capacity);
    }
    let i = (h >>> 0) & this.mask;
    while (this.seqs[i] !== 0) i = (i + 1) & this.mask;
    this.keys[i] = h;
    this.seqs[i] = seq;
    this.size += 1;
  }

  forEachKey(visit: (h: number) => void): void {
    if (this.size === 0) return;
    for (let i = 0; i < this.capacity; i++) if (this.seqs[i] !== 0) visit(this.keys[i]!);
  }

  /** Copies the keys into `into` and returns them sorted (a view of `into`). */
  sortedKeys(into: Float64Array): Float64Array {
    let n = 0;
    this.forEachKey((h) => {
      into[n++] = h;
    });
    return into.subarray(0, n).sort();
  }

  clear(): void {
    if (this.size === 0) return;
    this.seqs.fill(0);
    this.size = 0;
  }
}

/**
 * A Bloom filter over every key this connection knows to be stored, so that the key of a new message (nearly every
 * message) is not looked up in interaction_keys at all: that lookup lands on a random page, and once the table
 * outgrows SQLite's page cache each one is a read. 10 bits and 6 probes per key (about 1 % false positives, which
 * only cost a lookup). Built from the table when a connection first writes, for twice the keys there are; when
 * those are outgrown another filter twice as big takes the new keys (a key is known when any filter has it), so a
 * growing table is never scanned again. Messages stored by other connections are added when `sync()` sees them;
 * keys that were rolled back or purged stay in (a filter may only err towards "maybe").
 */
class KeyFilter {
  private readonly bits: Int32Array;
  private readonly mask: number;
  count = 0;
  readonly capacity: number;

  constructor(keys: number, minBits = 1 << 22) {
    let size = minBits;
    while (size < keys * 10 && size < 1 << 30) size *= 2;
    this.bits = new Int32Array(size / 32);
    this.mask = size - 1;
    this.capacity = size / 10;
  }

  add(h: number): void {
    const a = h >>> 0;
    const b = (Math.floor(h / 4294967296) ^ Math.imul(a, 0x9e3779b1)) | 1;
    for (let i = 0, x = a; i < 6; i++, x = (x + b) | 0) {
      const bit = x & this.mask;
      this.bits[bit >>> 5]! |= 1 << (bit & 31);
    }
    this.count += 1;
  }

  has(h: number): boolean {
    const a = h >>> 0;
    const b = (Math.floor(h / 4294967296) ^ Math.imul(a, 0x9e3779b1)) | 1;
    for (let i = 0, x = a; i < 6; i++, x = (x + b) | 0) {
      const bit = x & this.mask;
      if ((this.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}

/** Slots per table; keys beyond LOAD_LIMIT of it are written at once, as if there were no deferral. */
const TABLE_SLOTS = 131_072;
const LOAD_LIMIT = 0.75;

/** For tests: a weak key function makes collisions common; small filters make them grow. */
export interface DedupeOptions {
  keyOf?: (integrationId: string, wamid: string) => number;
  /** Power of two; 2^22 by default. */
  minFilterBits?: number;
}

/** A batch of deferred keys being folded, in key order, a chunk per transaction. */
interface FoldCycle {
  keys: Float64Array;
  next: number;
  /** Every interaction up to this seq has its key in the table once the cycle's last chunk commits. */
  through: number;
}

/**
 * Which stored message holds each dedupe key (see 002_relay.sql and 004_folded_interactions.sql).
 *
 * A new message's key is not written in the transaction that stores the message: keys are random, so each would
 * dirty its own page of interaction_keys in every commit. New keys wait in memory (`active`) and are folded into
 * the table in key order, a chunk per transaction, so a fold writes each page once for many keys. A fold cycle
 * takes the whole active table (it becomes `folding`, and lookups still see it until the cycle ends).
 * Interactions above interactions_folded.through whose keys are not in memory (written by another connection,
 * before a crash, or named by keys a purge made stale) are folded from the interactions table before this
 * connection's next write: `sync()`.
 */
export class DedupeKeys {
  private active = new KeyTable(TABLE_SLOTS);
  private folding = new KeyTable(TABLE_SLOTS);
  private sortSpace: Float64Array | undefined;
  /** The interactions table's AUTOINCREMENT counter after this connection's last write; undefined: not synced. */
  private knownSeq: number | undefined;
  /** PRAGMA data_version when last synced: it changes only when another connection commits. */
  private knownVersion = -1;
  /** interactions_folded.purged when last synced: a purge elsewhere deletes rows the keys in memory may name. */
  private knownPurges = -1;
  private cycle: FoldCycle | undefined;
  private filters: KeyFilter[] | undefined;
  /** Every interaction up to this seq has its key in the filters. */
  private filteredThrough = 0;
  /** Counts write transactions whose body started (sync() runs first in each). */
  private bodies = 0;

  private readonly dataVersion;
  private readonly currentSeq;
  private readonly foldedThrough;
  private readonly purges;
  private readonly setFoldedThrough;
  private readonly keyCount;
  private readonly allKeys;
  private readonly keyHolder;
  private readonly insertKey;
  private readonly identity;
  private readonly overflowHas;
  private readonly insertOverflow;
  private readonly tail;
  private readonly tailKeys;
  private readonly foldChunk;
  private readonly foldAll;

  readonly keyOf: (integrationId: string, wamid: string) => number;
  private readonly minFilterBits: number | undefined;

  /**
   * `foldRows(from, to)` brings the other derived data (contacts) up to date with the interactions in (from, to]; it
   * runs in the transaction that moves the watermark, so each interaction is counted once.
   */
  constructor(
    db: Database,
    private readonly foldRows: (from: number, to: number) => void = () => {},
    options: DedupeOptions = {},
  ) {
    this.keyOf = options.keyOf ?? dedupeKey;
    this.minFilterBits = options.minFilterBits;
    this.dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
    this.currentSeq = db
      .prepare<[], number>("SELECT seq FROM sqlite_sequence WHERE name = 'interactions'")
      .pluck();
    this.foldedThrough = db.prepare<[], number>('SELECT through FROM interactions_folded WHERE id = 1').pluck();
    this.purges = db.prepare<[], number>('SELECT purged FROM interactions_folded WHERE id = 1').pluck();
    this.setFoldedThrough = db.prepare('UPDATE interactions_folded SET through = ? WHERE id = 1');
    this.keyCount = db.prepare<[], number>('SELECT COUNT(*) FROM interaction_keys').pluck();
    this.allKeys = db.prepare<[], number>('SELECT h FROM interaction_keys').pluck();
    this.keyHolder = db.prepare<[number], number>('SELECT seq FROM interaction_keys WHERE h = ?').pluck();
    this.insertKey = db.prepare('INSERT OR IGNORE INTO interaction_keys (h, seq) VALUES (?, ?)');
    this.identity = db.prepare<[number], { integration_id: string; wamid: string }>(
      'SELECT integration_id, wamid FROM interactions WHERE seq = ?',
    );
    this.overflowHas = db
      .prepare<[string, string], number>('SELECT 1 FROM interaction_key_overflow WHERE integration_id = ? AND wamid = ?')
      .pluck();
    this.insertOverflow = db.prepare(
      'INSERT OR IGNORE INTO interaction_key_overflow (integration_id, wamid, h, seq) VALUES (?, ?, ?, ?)',
    );
    this.tail = db.prepare<[number], { seq: number; integration_id: string; wamid: string }>(
      'SELECT seq, integration_id, wamid FROM interactions WHERE seq > ? ORDER BY seq',
    );
    this.tailKeys = db.prepare<[number], { integration_id: string; wamid: string }>(
      'SELECT integration_id, wamid FROM interactions WHERE seq > ?',
    );
    this.foldChunk = db.transaction((maxKeys: number): FoldCycle | undefined => {
      if (this.sync()) return undefined;
      this.cycle ??= this.startCycle();
      const cycle = this.cycle;
      if (!cycle) return undefined;
      const end = Math.min(cycle.keys.length, cycle.next + maxKeys);
      for (let i = cycle.next; i < end; i++) {
        const h = cycle.keys[i]!;
        this.writeKey(h, this.folding.get(h)!);
      }
      if (end === cycle.keys.length) this.advance(cycle.through);
      return cycle;
    });
    this.foldAll = db.transaction(() => {
      if (this.sync()) return;
      for (const table of [this.folding, this.active]) {
        for (const h of table.sortedKeys(this.sortBuffer())) this.writeKey(h, table.get(h)!);
      }
      this.advance(this.knownSeq ?? 0);
    });
  }

  private sortBuffer(): Float64Array {
    return (this.sortSpace ??= new Float64Array(TABLE_SLOTS));
  }

  /** Keys waiting in memory. */
  get deferred(): number {
    return this.active.size + this.folding.size;
  }

  /**
   * Call first inside every write transaction: when the interactions table changed behind this connection's back
   * (another writer or a purge, a previous run, a rolled-back transaction), folds every unfolded interaction's key
   * from the table and forgets the keys in memory. Returns true when it did.
   */
  sync(): boolean {
    this.bodies += 1;
    const version = this.dataVersion.get()!;
    if (version === this.knownVersion && this.knownSeq !== undefined) return false;
    this.knownVersion = version;
    const seq = this.currentSeq.get() ?? 0;
    const purges = this.purges.get() ?? 0;
    if (seq === this.knownSeq && purges === this.knownPurges) return false;
    const rows = this.tail.all(this.foldedThrough.get() ?? 0);
    const keys = new Map<number, number>();
    const collided: typeof rows = [];
    for (const row of rows) {
      const h = this.keyOf(row.integration_id, row.wamid);
      if (keys.has(h)) collided.push(row);
      else keys.set(h, row.seq);
    }
    for (const h of Float64Array.from(keys.keys()).sort()) this.writeKey(h, keys.get(h)!);
    for (const row of collided) this.writeKey(this.keyOf(row.integration_id, row.wamid), row.seq);
    this.advance(seq);
    this.active.clear();
    this.folding.clear();
    this.cycle = undefined;
    this.knownSeq = seq;
    this.knownPurges = purges;
    if (this.filters === undefined) this.buildFilter(seq);
    else {
      // Messages other connections stored since this one last looked.
      for (const row of this.tailKeys.iterate(this.filteredThrough)) this.remember(this.keyOf(row.integration_id, row.wamid));
      this.filteredThrough = seq;
    }
    return true;
  }

  /**
   * Whether a message with this key and identity is already stored, and which seq holds the key (undefined when
   * the key is free; a new message whose key is held is a hash collision, recorded apart by `added`).
   */
  find(h: number, integrationId: string, wamid: string): { duplicate: boolean; holder: number | undefined } {
    const holder = this.active.get(h) ?? this.folding.get(h) ?? (this.known(h) ? this.keyHolder.get(h) : undefined);
    if (holder === undefined) return { duplicate: false, holder };
    const held = this.identity.get(holder);
    if (held && held.integration_id === integrationId && held.wamid === wamid) return { duplicate: true, holder };
    return { duplicate: this.overflowHas.get(integrationId, wamid) !== undefined, holder };
  }

  /** Records the key of a message just stored (inside the same transaction). */
  added(h: number, seq: number, holder: number | undefined, integrationId: string, wamid: string): void {
    this.knownSeq = seq;
    this.remember(h);
    if (seq === this.filteredThrough + 1) this.filteredThrough = seq;
    if (holder !== undefined) this.insertOverflow.run(integrationId, wamid, h, seq);
    else if (this.active.size < this.active.capacity * LOAD_LIMIT) this.active.add(h, seq);
    else this.writeKey(h, seq); // folds are falling behind: no deferral
  }

  /**
   * Runs a write transaction of this connection's (ingest, fold, flush). When it fails after its body started, what
   * the body changed in memory (keys, the cycle, sync()) may name rows that were rolled back: the next write
   * re-derives it from the table. A transaction that never began (busy) changed nothing.
   */
  write<T>(run: () => T): T {
    const before = this.bodies;
    const filteredThrough = this.filteredThrough;
    try {
      return run();
    } catch (error) {
      if (this.bodies !== before) {
        this.knownSeq = undefined;
        // Its seqs will be handed out again, maybe to another connection's messages: look at them again.
        this.filteredThrough = Math.min(this.filteredThrough, filteredThrough);
      }
      throw error;
    }
  }

  /**
   * Folds up to `maxKeys` deferred keys in one transaction. A fold cycle takes every key deferred when it starts,
   * in key order; returns true while the current cycle has more chunks.
   */
  fold(maxKeys: number): boolean {
    const cycle = this.write(() => this.foldChunk.immediate(maxKeys));
    if (!cycle) return false;
    cycle.next = Math.min(cycle.keys.length, cycle.next + maxKeys);
    if (cycle.next < cycle.keys.length) return true;
    this.folding.clear();
    this.cycle = undefined;
    return false;
  }

  /** Folds every deferred key now (one transaction). */
  flush(): void {
    this.write(() => this.foldAll.immediate());
    this.active.clear();
    this.folding.clear();
    this.cycle = undefined;
  }

  /** Starts a cycle: the active keys become the folding ones (lookups keep seeing them until the cycle ends). */
  private startCycle(): FoldCycle | undefined {
    if (this.active.size === 0) return undefined;
    const emptied = this.folding;
    this.folding = this.active;
    this.active = emptied;
    return { keys: this.folding.sortedKeys(this.sortBuffer()), next: 0, through: this.knownSeq ?? 0 };
  }

  /** A filter of every key in the table (inside a transaction, after sync() folded the rest: all of them). */
  private buildFilter(through: number): void {
    const filter = new KeyFilter(2 * this.keyCount.get()!, this.minFilterBits);
    for (const h of this.allKeys.iterate()) filter.add(h);
    this.filters = [filter];
    this.filteredThrough = through;
  }

  /** False only for a key no stored message has (no filter yet: unknown, so true). */
  private known(h: number): boolean {
    if (this.filters === undefined) return true;
    for (let i = this.filters.length - 1; i >= 0; i--) if (this.filters[i]!.has(h)) return true;
    return false;
  }

  private remember(h: number): void {
    if (this.filters === undefined) return;
    let newest = this.filters.at(-1)!;
    if (newest.count >= newest.capacity) {
      newest = new KeyFilter(2 * newest.capacity, this.minFilterBits);
      this.filters.push(newest);
    }
    newest.add(h);
  }

  /** Moves the watermark to `to`, folding the interactions it passes. */
  private advance(to: number): void {
    const from = this.foldedThrough.get() ?? 0;
    if (to <= from) return;
    this.foldRows(from, to);
    this.setFoldedThrough.run(to);
  }

  /** Writes one key to the table; a key held by another message sends this one to the overflow table. */
  private writeKey(h: number, seq: number): void {
    if (this.insertKey.run(h, seq).changes > 0) return;
    const holder = this.keyHolder.get(h);
    if (holder === seq) return;
    const row = this.identity.get(seq);
    if (row) this.insertOverflow.run(row.integration_id, row.wamid, h, seq);
  }
}
