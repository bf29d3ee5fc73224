import { UserError } from '../errors.js';
import { GraphError } from './errors.js';

const TOKEN_HINT =
  'Use a permanent System User token: Business Settings → Users → System users → Generate new token, with ' +
  'whatsapp_business_messaging and whatsapp_business_management (the temporary token on API Setup expires in 24 hours).';

/**
 * Turns the Graph errors a user can fix into precise messages: which id was wrong, what to do about a token.
 * `subject` names the object the failing call was about.
 */
export function explainGraphError(
  error: unknown,
  subject: { kind: 'phone number' | 'WABA'; id: string; flag: string },
): unknown {
  if (!(error instanceof GraphError)) return error;
  const trace = error.fbtraceId ? ` (fbtrace_id ${error.fbtraceId})` : '';
  if (error.isAuthError) {
    return new UserError(`Meta rejected the access token (code 190${error.subcode ? `/${error.subcode}` : ''}): ${error.message}${trace}`, {
      code: 'auth_invalid_token',
      hint: TOKEN_HINT,
      kind: 'auth',
      cause: error,
    });
  }
  if (error.code === 10 || (error.code !== undefined && error.code >= 200 && error.code <= 299)) {
    return new UserError(`The access token may not use ${subject.kind} ${subject.id} (code ${error.code}): ${error.message}${trace}`, {
      code: 'auth_permission_denied',
      hint: 'Assign the WhatsApp account to the System User and grant whatsapp_business_management and whatsapp_business_messaging.',
      kind: 'auth',
      cause: error,
    });
  }
  if (error.code === 100 && (error.subcode === 33 || error.status === 400 || error.status === 404)) {
    const label = subject.kind === 'phone number' ? 'Phone number ID' : 'WABA ID';
    return new UserError(`${label} ${subject.id} was not found, or this token cannot see it (${subject.flag}).${trace}`, {
      code: subject.kind === 'phone number' ? 'phone_number_not_found' : 'waba_not_found',
      hint:
        subject.kind === 'phone number'
          ? 'Copy the "Phone number ID" from WhatsApp Manager → API Setup (it is not the phone number).'
          : 'Copy the "WhatsApp Business Account ID" from WhatsApp Manager → API Setup.',
      cause: error,
    });
  }
  return error;
}

/** Runs a Graph call and explains its errors in terms of the object it was about. */
export async function aboutObject<T>(
  subject: { kind: 'phone number' | 'WABA'; id: string; flag: string },
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw explainGraphError(error, subject);
  }
}

/** Why Meta refused a send, by error code, in words a user can act on (the code decides, never the text). */
export const SEND_ERROR_REASONS: Record<number, { reason: string; hint?: string }> = {
  131047: {
    reason: 'more than 24 hours have passed since the customer last wrote',
    hint: 'Send an approved template instead (lumen send --template …).',
  },
  131026: { reason: 'the message could not be delivered (the number may not use WhatsApp, or has an old app)' },
  131051: { reason: 'this message type is not supported' },
  131008: { reason: 'a required parameter is missing' },
  131009: { reason: 'a parameter value is not valid' },
  132000: { reason: 'the number of template parameters does not match the template', hint: 'Run `lumen templates sync`: the template may have changed.' },
  132001: { reason: 'the template does not exist in that language at Meta', hint: 'Run `lumen templates sync` and check the name and --lang.' },
  132015: { reason: 'the template is paused for low quality' },
  132016: { reason: 'the template is disabled for low quality' },
  130429: { reason: 'the number reached its throughput limit', hint: 'Lower --rate.' },
  131056: { reason: 'too many messages to this person in a short time (pair rate limit)', hint: 'Wait a few seconds between messages to the same person.' },
  368: { reason: 'the account is temporarily blocked for policy violations' },
  131062: {
    reason: 'this message cannot go to a user id (a username user): Meta needs a phone number for it',
    hint: 'Authentication templates (one-tap, zero-tap, copy-code) need the phone number; send another message type to a user id.',
  },
  131063: {
    reason: 'marketing templates are turned off for Cloud API on this WABA',
    hint: 'Send it through the Marketing Messages API, or turn marketing templates on for Cloud API (disable_marketing_messages_on_cloud_api off).',
  },
  137000: {
    reason: "the recipient's identity key does not match the one on record (they reinstalled WhatsApp or changed phones)",
    hint: 'Send again without the recipient identity key hash, or with the current one.',
  },
  131037: {
    reason: "this number's display name is not approved yet",
    hint: 'Wait for the display name review in WhatsApp Manager → Phone numbers (or request a name that meets the guidelines).',
  },
  130497: {
    reason: 'the business account may not message users in this country',
    hint: "See WhatsApp's Business Messaging Policy for the countries your business category may message.",
  },
  131049: {
    reason: 'Meta held this marketing message back to keep engagement healthy (per-user marketing limit)',
    hint: 'Do not resend at once: wait at least 24 hours before sending this user another marketing template.',
  },
};
