import type { Writable } from 'node:stream';

/** How far behind a follower may fall (bytes the relay holds for it) before what comes next is skipped. */
export const FOLLOWER_MAX_BUFFERED = 1024 * 1024;

/**
 * Writes a follower's stream (`GET /v1/events`, the console's live feed) without holding more for it than
 * `maxBuffered`: a follower that stops reading (`lumen events tail | less`, a paused tab) would otherwise keep every
 * event in the relay's memory. Past the limit, events are skipped until it catches up, and then it is told how many
 * (`skipped(count)`, written before the next event), so a gap is never silent.
 */
export function followerWriter(
  out: Writable,
  skipped: (count: number) => string,
  maxBuffered = FOLLOWER_MAX_BUFFERED,
): (chunk: string) => void {
  let dropped = 0;
  return (chunk) => {
    if (out.destroyed || out.writableEnded) return;
    if (out.writableLength > maxBuffered) {
      dropped += 1;
      return;
    }
    if (dropped > 0) {
      out.write(skipped(dropped));
      dropped = 0;
    }
    out.write(chunk);
  };
}

/** How many followers one relay feeds at once (console tabs, `events tail`, bots): each may be held up to 1 MiB. */
export const MAX_FOLLOWERS = 64;

/** The followers a relay feeds now, up to a limit, so that their buffers together stay bounded too. */
export class FollowerSlots {
  private taken = 0;

  constructor(readonly max = MAX_FOLLOWERS) {}

  /** A slot, and the function that gives it back (once, however often it is called); null when all are taken. */
  take(): (() => void) | null {
    if (this.taken >= this.max) return null;
    this.taken += 1;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.taken -= 1;
    };
  }
}

export const TOO_MANY_FOLLOWERS = (max: number) =>
  `The relay already feeds ${max} followers (console tabs, events tail, bots following /v1/events); close one and try again.`;
