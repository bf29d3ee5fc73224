/**
 * Meta's side of the webhook handshake: before it accepts a Callback URL it GETs
 * `URL?hub.mode=subscribe&hub.challenge=C&hub.verify_token=T` and wants 200 with exactly C. The sandbox does the
 * same, but reaches loopback addresses only (it is a local stand-in: it never calls out to the network).
 */
import { randomInt } from 'node:crypto';
import { callbackVerificationFailed, invalidParameter } from './errors.js';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

export function isLoopbackUrl(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname) || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
}

/** A Callback URL Meta would take: an absolute http(s) URL without spaces or angle brackets (a placeholder). */
export function parseCallbackUrl(value: unknown, parameter: string): URL {
  if (typeof value !== 'string' || value === '' || /[\s<>]/.test(value)) {
    throw invalidParameter(`Param ${parameter} must be a valid URL.`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidParameter(`Param ${parameter} must be a valid URL.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalidParameter(`Param ${parameter} must be a valid URL.`);
  return url;
}

export async function verifyCallbackUrl(value: unknown, verifyToken: unknown, parameter: string): Promise<string> {
  const url = parseCallbackUrl(value, parameter);
  if (typeof verifyToken !== 'string' || verifyToken === '') {
    throw invalidParameter('Param verify_token is required when overriding the callback URL.');
  }
  if (!isLoopbackUrl(url)) {
    throw callbackVerificationFailed(`the sandbox reaches loopback addresses only, not ${url.host}`);
  }
  const challenge = String(randomInt(1, 2 ** 31 - 1));
  const probe = new URL(url);
  probe.searchParams.set('hub.mode', 'subscribe');
  probe.searchParams.set('hub.challenge', challenge);
  probe.searchParams.set('hub.verify_token', verifyToken);
  let status: number;
  let text: string;
  try {
    const response = await fetch(probe, { headers: { 'user-agent': 'facebookplatform/1.0' }, signal: AbortSignal.timeout(10_000) });
    status = response.status;
    text = await response.text();
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    throw callbackVerificationFailed(`curl_errno = 7; curl_error = Failed to connect to ${url.host} (${cause})`);
  }
  if (status !== 200) throw callbackVerificationFailed(`HTTP Status Code = ${status}; HTTP Message = ${httpMessage(status)}`);
  if (text !== challenge) throw callbackVerificationFailed('The URL couldn\'t be validated. Response does not match challenge, expected value="' + challenge + '", received="' + text.slice(0, 60) + '"');
  return value as string;
}

function httpMessage(status: number): string {
  return { 403: 'Forbidden', 404: 'Not Found', 401: 'Unauthorized', 500: 'Internal Server Error', 503: 'Service Unavailable' }[status] ?? 'Error';
}
