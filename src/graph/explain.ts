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
