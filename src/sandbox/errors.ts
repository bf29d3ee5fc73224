/**
 * Meta-shaped Graph API errors. Messages and codes follow Meta's error reference so that clients tested here
 * decide on `code`, exactly as they must against the real API.
 */
import { randomBytes } from 'node:crypto';
import type { GraphErrorBody } from './types.js';

/** Thrown by handlers; the server turns it into `{error: body}` with `status`. */
export class SandboxGraphError extends Error {
  readonly status: number;
  readonly body: GraphErrorBody;

  constructor(status: number, body: GraphErrorBody) {
    super(body.message);
    this.name = 'SandboxGraphError';
    this.status = status;
    this.body = body;
  }
}

export function newFbtraceId(): string {
  return randomBytes(17).toString('base64url');
}

function graphError(status: number, fields: Omit<GraphErrorBody, 'fbtrace_id'>): SandboxGraphError {
  return new SandboxGraphError(status, { ...fields, fbtrace_id: newFbtraceId() });
}

export function invalidAccessToken(): SandboxGraphError {
  return graphError(401, {
    message: 'Invalid OAuth access token - Cannot parse access token',
    type: 'OAuthException',
    code: 190,
  });
}

/** Unknown object id, unknown edge or unsupported method: Meta answers all three the same way. */
export function unsupportedRequest(method: string, objectId: string): SandboxGraphError {
  return graphError(400, {
    message:
      `Unsupported ${method.toLowerCase()} request. Object with ID '${objectId}' does not exist, cannot be loaded ` +
      'due to missing permissions, or does not support this operation. Please read the Graph API documentation ' +
      'at https://developers.facebook.com/docs/graph-api',
    type: 'GraphMethodException',
    code: 100,
    error_subcode: 33,
  });
}

export function invalidParameter(message: string, details?: string): SandboxGraphError {
  return graphError(400, {
    message: `(#100) ${message}`,
    type: 'OAuthException',
    code: 100,
    ...(details === undefined ? {} : { error_data: { messaging_product: 'whatsapp' as const, details } }),
  });
}

/** A missing parameter, named the way Meta names it (`image['id']`, `interactive['body']['text']`). */
export function missingParameter(path: string): SandboxGraphError {
  return invalidParameter(`The parameter ${path} is required.`, `The parameter ${path} is required.`);
}

/** A parameter of the wrong shape or length: the sentence is both the message and `error_data.details`. */
export function badParameter(sentence: string): SandboxGraphError {
  return invalidParameter(sentence, sentence);
}

/** Meta's terse form: message `(#100) Invalid parameter`, what is wrong (and where) only in `error_data.details`. */
export function invalidParameterValue(details: string): SandboxGraphError {
  return graphError(400, {
    message: '(#100) Invalid parameter',
    type: 'OAuthException',
    code: 100,
    error_data: { messaging_product: 'whatsapp', details },
  });
}

/** A value Meta parses but refuses (counts, duplicates, ranges): 131009, the field named in `details`. */
export function parameterValueNotValid(details: string): SandboxGraphError {
  return sendError(131009, { details });
}

export function nonexistingField(field: string, nodeType: string): SandboxGraphError {
  return invalidParameter(`Tried accessing nonexisting field (${field}) on node type (${nodeType})`);
}

export function invalidJsonBody(): SandboxGraphError {
  return invalidParameter('The request body could not be parsed as JSON.');
}

export function bodyTooLarge(limit: number): SandboxGraphError {
  return graphError(413, {
    message: `(#100) The request body is larger than ${limit} bytes.`,
    type: 'OAuthException',
    code: 100,
  });
}

export function unknownError(status = 500): SandboxGraphError {
  return graphError(status, {
    message: 'An unknown error occurred',
    type: 'OAuthException',
    code: 1,
    is_transient: true,
  });
}

interface SendErrorSpec {
  title: string;
  details: string;
  transient?: boolean;
  status?: number;
}

/** Send-time errors by code, with Meta's titles and details. Anything else injected gets a generic text. */
const SEND_ERRORS: Readonly<Record<number, SendErrorSpec>> = {
  2: { title: 'Service temporarily unavailable', details: 'Service temporarily unavailable.', transient: true, status: 503 },
  4: { title: 'Application request limit reached', details: 'Too many API calls.', transient: true },
  368: { title: 'Temporarily blocked for policies violations', details: 'The WhatsApp Business Account is restricted.' },
  80007: { title: 'Rate limit issues', details: 'The WhatsApp Business Account has reached its rate limit.', transient: true },
  130429: {
    title: 'Rate limit hit',
    details: 'Cloud API message throughput has been reached.',
    transient: true,
  },
  131000: { title: 'Something went wrong', details: 'Message failed to send due to an unknown error.', transient: true },
  131008: { title: 'Required parameter is missing', details: 'The request is missing a required parameter.' },
  131009: { title: 'Parameter value is not valid', details: 'One or more parameter values are invalid.' },
  131016: { title: 'Service unavailable', details: 'A service is temporarily unavailable.', transient: true },
  131026: {
    title: 'Message undeliverable',
    details:
      'Unable to deliver message. Reasons can include: the recipient phone number is not a WhatsApp phone number; ' +
      'the recipient has not accepted the latest Terms of Service; the recipient uses an old WhatsApp version.',
  },
  131047: {
    title: 'Re-engagement message',
    details:
      'Message failed to send because more than 24 hours have passed since the customer last replied to this number.',
  },
  131051: { title: 'Unsupported message type', details: 'Message type is not currently supported.' },
  131056: {
    title: '(Business Account, Consumer Account) pair rate limit hit',
    details:
      'Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.',
    transient: true,
  },
  131057: { title: 'Account in maintenance mode', details: 'Business Account is in maintenance mode.', transient: true },
  131053: { title: 'Media upload error', details: 'Unable to upload the media used in the message.' },
  131062: {
    title: 'Business-scoped User ID recipients are not supported for this message',
    details: 'Authentication templates cannot be sent to a business-scoped user ID: send them to the phone number.',
  },
  132000: {
    title: 'Number of parameters does not match the expected number of params',
    details: 'The number of variable parameter values does not match the number of parameters the template expects.',
  },
  132001: {
    title: 'Template name does not exist in the translation',
    details: 'The template does not exist in the specified language or has not been approved.',
  },
  132015: { title: 'Template is paused', details: 'The template is paused due to low quality.' },
};

/** Meta's title and details for a send error code (a status webhook's `errors[]` carries the same), if the sandbox knows it. */
export function sendErrorText(code: number): { title: string; details: string } | undefined {
  const spec = SEND_ERRORS[code];
  return spec ? { title: spec.title, details: spec.details } : undefined;
}

/** A WhatsApp send error by code, e.g. 131047; `details` overrides Meta's generic text. */
export function sendError(code: number, options: { status?: number; details?: string } = {}): SandboxGraphError {
  if (code === 500 || code === 1) return unknownError(options.status ?? 500);
  if (code === 190) {
    const error = invalidAccessToken();
    return options.status === undefined ? error : new SandboxGraphError(options.status, error.body);
  }
  const spec = SEND_ERRORS[code];
  const title = spec?.title ?? 'Error injected by the lumen sandbox';
  return graphError(options.status ?? spec?.status ?? 400, {
    message: `(#${code}) ${title}`,
    type: 'OAuthException',
    code,
    error_data: {
      messaging_product: 'whatsapp',
      details: options.details ?? spec?.details ?? 'Injected with POST /_sandbox/faults.',
    },
    ...(spec?.transient ? { is_transient: true } : {}),
  });
}

/** Meta's answer when the GET handshake against a new Callback URL did not echo the challenge (code 2200). */
export function callbackVerificationFailed(reason: string): SandboxGraphError {
  return graphError(400, {
    message: `(#2200) Callback verification failed with the following errors: ${reason}`,
    type: 'OAuthException',
    code: 2200,
  });
}
