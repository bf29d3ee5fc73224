/** What the relay reports as it works: printed one line each on a terminal, or as NDJSON with `--json`. */
export type RelayEvent =
  | { event: 'listening'; url: string }
  | { event: 'callback_url'; integrationId: string; label: string; url: string }
  | { event: 'handshake'; integrationId: string; ok: boolean }
  | {
      event: 'registration';
      integrationId: string;
      label: string;
      url: string;
      scope: 'phone' | 'waba';
      ok: boolean;
      error?: { code: string; message: string; hint: string | null };
      /** Taken, but not where Meta delivers (the number's own override wins over the WABA's). */
      warning?: string;
    }
  | {
      event: 'message';
      integrationId: string;
      interactionId: string | null;
      wamid: string;
      from: string;
      contactName: string | null;
      type: string;
      /** At most EVENT_TEXT_MAX characters (then ending in "…"): the whole text is in the store (`messages show`). */
      text: string;
      duplicate: boolean;
    }
  | {
      event: 'status';
      integrationId: string;
      wamid: string;
      status: string;
      errorCode: number | null;
      recipient: string | null;
      /** Meta's pricing category and whether it is billable, when the status carries them. */
      category?: string | null;
      billable?: boolean | null;
    }
  | { event: 'change'; integrationId: string; object: string; field: string; text: string }
  | { event: 'ignored'; integrationId?: string; reason: string; field?: string; phoneNumberId?: string }
  | { event: 'rejected'; status: number; reason: string; integrationId?: string }
  | {
      event: 'forward';
      /** `event` (a non-message document) or `raw` (Meta's own bytes, --forward-raw). */
      queue: 'event' | 'raw';
      id: number;
      /** The id `lumen events drop`/`replay` take: `ev_N` or `raw_N` (a message's delivery is a plain number). */
      ref: string;
      object: string;
      target: string;
      ok: boolean;
      status: number | null;
      attempt: number;
      error?: string;
      nextAttemptAt?: string;
    }
  | {
      event: 'dispatch';
      eventId: number;
      interactionId: string;
      target: string;
      ok: boolean;
      status: number | null;
      durationMs: number;
      attempt: number;
      error?: string;
      nextAttemptAt?: string;
    }
  | {
      event: 'reply';
      interactionId: string;
      to: string;
      ok: boolean;
      /** The outbound message id. */
      id?: string;
      wamid?: string;
      pendingApproval?: string;
      /** This reply had been sent before (a message delivered again): not sent twice. */
      alreadySent?: boolean;
      /** With alreadySent: the reply sent before was another answer (a replay whose code answers differently). */
      differs?: boolean;
      error?: string;
    }
  /** A line an `--exec` command printed: for a message (`interactionId`), or for an event or raw delivery (`ref`: ev_N, raw_N). */
  | { event: 'handler_output'; interactionId?: string; ref?: string; stream: 'stdout' | 'stderr'; text: string }
  | {
      event: 'auto_reply';
      interactionId: string;
      to: string;
      ok: boolean;
      wamid?: string;
      /** The outbound message id, when the approval policy holds the reply for approval. */
      pendingApproval?: string;
      id?: string;
      /** Sent before (the message delivered again): not sent twice. */
      alreadySent?: boolean;
      differs?: boolean;
      error?: string;
    }
  | {
      event: 'webhook_error';
      integrationId: string;
      code: number | null;
      title: string | null;
      message: string | null;
      details: string | null;
    }
  | {
      event: 'media';
      integrationId: string;
      interactionId: string | null;
      mediaId: string;
      ok: boolean;
      attempt: number;
      durationMs: number;
      path?: string;
      size?: number;
      error?: string;
      /** When it is tried again; null when it was given up. */
      retryAt?: string | null;
    }
  | {
      /** The daily retention purge (the `retention` setting): what it removed, older than `cutoff`. */
      event: 'retention';
      cutoff: string;
      inbound: number;
      outbound: number;
      statuses: number;
      webhookErrors: number;
      webhookEvents: number;
      media: number;
      contacts: number;
      files: number;
      keptUndelivered: number;
    }
  | { event: 'tunnel'; provider: string; url: string }
  | { event: 'error'; message: string }
  | { event: 'stopping'; signal: string }
  | { event: 'stopped' };

export type RelayEventSink = ((event: RelayEvent) => void) & {
  /** Whether events of this kind are shown at all (e.g. not under --quiet): the relay skips building the others. */
  wants?: (event: RelayEvent['event']) => boolean;
};

/** WhatsApp's longest text message: an event line carries no more of a message's text than that. */
export const EVENT_TEXT_MAX = 4096;

export function eventText(text: string): string {
  if (text.length <= EVENT_TEXT_MAX) return text;
  const end = /[\uD800-\uDBFF]/.test(text[EVENT_TEXT_MAX - 1] as string) ? EVENT_TEXT_MAX - 1 : EVENT_TEXT_MAX; // not half an emoji
  return `${text.slice(0, end)}…`;
}

/** Each line an `--exec` handler printed (blank ones left out), as `handler_output` events: at most 2,000 characters each. */
export function printHandlerOutput(
  onEvent: RelayEventSink | undefined,
  who: { interactionId: string } | { ref: string },
  stdout: string | undefined,
  stderr: string | undefined,
): void {
  if (!onEvent) return;
  for (const [stream, text] of [['stdout', stdout], ['stderr', stderr]] as const) {
    for (const line of (text ?? '').split('\n')) {
      if (line.trim() !== '') onEvent({ event: 'handler_output', ...who, stream, text: line.slice(0, 2000) });
    }
  }
}
