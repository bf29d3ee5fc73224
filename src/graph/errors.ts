import { UserError } from '../errors.js';
import type { NetworkFailure } from './retry.js';
import type { GraphErrorBody } from './types.js';

/** A Cloud API error answer. Decisions are made on `code`/`subcode`, never on the text. */
export class GraphError extends Error {
  readonly status: number;
  readonly code: number | undefined;
  readonly subcode: number | undefined;
  readonly type: string | undefined;
  readonly details: string | undefined;
  readonly fbtraceId: string | undefined;
  readonly isTransient: boolean;
  /** Which request failed, e.g. "GET /v23.0/1065…": helps the user see which id was wrong. */
  readonly request: string;

  constructor(init: {
    status: number;
    body: GraphErrorBody | undefined;
    request: string;
    redact: (text: string) => string;
  }) {
    const error = init.body?.error;
    const message = init.redact(error?.message ?? `HTTP ${init.status} from the Graph API`);
    super(message);
    this.name = 'GraphError';
    this.status = init.status;
    this.code = typeof error?.code === 'number' ? error.code : undefined;
    this.subcode = typeof error?.error_subcode === 'number' ? error.error_subcode : undefined;
    this.type = error?.type;
    const details = typeof error?.error_data === 'object' ? error.error_data.details : error?.error_data;
    this.details = details === undefined ? undefined : init.redact(String(details));
    this.fbtraceId = error?.fbtrace_id;
    this.isTransient = error?.is_transient === true;
    this.request = init.redact(init.request);
  }

  /**
   * True when the request may have been acted on all the same: a 2xx whose body cannot be read, or a 5xx that is not
   * Meta's error (a proxy's or gateway's page, no error code) — Meta may have sent the message behind it.
   */
  get mayHaveArrived(): boolean {
    return (this.status >= 200 && this.status < 300) || (this.status >= 500 && this.code === undefined);
  }

  /** True for an expired, revoked or malformed access token. */
  get isAuthError(): boolean {
    return this.code === 190 || this.status === 401;
  }

  toJSON(): Record<string, unknown> {
    return {
      status: this.status,
      code: this.code,
      subcode: this.subcode,
      type: this.type,
      message: this.message,
      details: this.details,
      fbtraceId: this.fbtraceId,
    };
  }
}

/** The Graph API could not be reached at all (refused, DNS, timeout, TLS). */
export class GraphNetworkError extends UserError {
  /** refused, dns and tls mean the request never left; timeout and reset mean it may have reached Meta. */
  readonly failure: NetworkFailure;

  constructor(message: string, hint: string, cause: unknown, failure: NetworkFailure) {
    super(message, { code: 'graph_unreachable', hint, cause, kind: 'unavailable' });
    this.name = 'GraphNetworkError';
    this.failure = failure;
  }

  /** True when the request may have been received (and acted on) before the connection failed. */
  get mayHaveArrived(): boolean {
    return this.failure === 'timeout' || this.failure === 'reset' || this.failure === 'other';
  }
}

/** A media file larger than lumen accepts: refused before (or while) it is written. */
export class MediaTooLargeError extends UserError {
  constructor(
    readonly size: number,
    readonly maxBytes: number,
  ) {
    super(`The media file is larger than the ${maxBytes}-byte limit (${size} bytes or more).`, {
      code: 'media_too_large',
      hint: 'Raise the limit with --media-max-bytes if you want such files.',
    });
    this.name = 'MediaTooLargeError';
  }
}

/** Replaces every occurrence of the given secrets with a marker. */
export function makeRedactor(secrets: Array<string | undefined>): (text: string) => string {
  const present = secrets.filter((s): s is string => typeof s === 'string' && s.length >= 6);
  return (text) => {
    let out = text;
    for (const secret of present) out = out.split(secret).join('[redacted]');
    // Tokens can also appear URL-encoded or as a query parameter in text Meta echoes back.
    return out.replace(/access_token=[^&\s"]+/g, 'access_token=[redacted]');
  };
}
