import { UsageError } from '../../errors.js';

/** Shape checks made before any call to Meta, so a typo gets a precise message instead of a Graph error. */

export function checkGraphId(value: string, what: 'Phone number ID' | 'WABA ID', flag: string): string | true {
  const trimmed = value.trim();
  if (/^\d{5,20}$/.test(trimmed)) return true;
  if (what === 'Phone number ID' && /^\+?[\d\s()-]{7,}$/.test(trimmed) && /[+\s()-]/.test(trimmed)) {
    return `${what} must be the numeric ID from WhatsApp Manager → API Setup, not the phone number itself (${flag}).`;
  }
  return `${what} must be 5–20 digits (${flag}); got "${preview(trimmed)}".`;
}

export function checkAccessToken(value: string): string | true {
  const trimmed = value.trim();
  if (trimmed.length === 0) return 'The access token is empty.';
  if (/\s/.test(trimmed)) return 'The access token must not contain spaces or line breaks.';
  if (trimmed.length < 20) return 'The access token looks too short; copy the whole System User token.';
  return true;
}

export function checkAppSecret(value: string): string | true {
  return /^[0-9a-f]{32}$/i.test(value.trim())
    ? true
    : 'The app secret must be 32 hexadecimal characters (App Dashboard → App settings → Basic → App secret).';
}

export function checkPublicUrl(value: string): string | true {
  try {
    // A placeholder such as `<your tunnel>` parses as a URL once encoded: refuse it as what it is.
    if (/[\s<>]/.test(value)) throw new Error('not a URL');
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'The public URL must start with https://.';
    // Meta calls only HTTPS callback URLs; plain http stays for this machine (the sandbox, local tests).
    if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
      return `The public URL must use https:// (Meta only calls HTTPS webhooks); http:// is kept for this machine only (localhost, 127.0.0.1). Got "${preview(value)}".`;
    }
    if (url.search || url.hash) return 'The public URL must not have a query or fragment.';
    return true;
  } catch {
    return `The public URL is not a valid URL: "${preview(value)}".`;
  }
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Throws a usage error (exit 2) when a check fails. */
export function ensureValid(result: string | true): void {
  if (result !== true) throw new UsageError(result);
}

function preview(value: string): string {
  return value.length > 24 ? `${value.slice(0, 24)}…` : value;
}
