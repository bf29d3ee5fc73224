import { request } from 'undici';

/** The Graph API's clock: the `Date` header of any answer (no token needed), or null when it sent none. */
export async function graphServerDate(baseUrl: string, timeoutMs = 10_000): Promise<Date | null> {
  const response = await request(`${baseUrl.replace(/\/+$/, '')}/`, { method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  await response.body.text().catch(() => '');
  const header = response.headers.date;
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}
