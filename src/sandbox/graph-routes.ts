/** Graph API routes for the one number and one WABA the sandbox holds. Auth is checked before these run. */
import { invalidParameter, nonexistingField, unsupportedRequest } from './errors.js';
import { verifyCallbackUrl } from './handshake.js';
import { isRecord } from './http.js';
import { mediaInfo, uploadMedia } from './media.js';
import { handleMessagesPost } from './send.js';
import type { SandboxState } from './state.js';
import type { SandboxTemplate } from './types.js';

export interface GraphRequest {
  method: string;
  /** e.g. 'v23.0', echoed into `paging.next`. */
  version: string;
  objectId: string;
  edge: string | undefined;
  query: URLSearchParams;
  /** Parsed body; `{}` when there was none; a MultipartBody for multipart/form-data. */
  body: unknown;
  /** Origin for absolute paging URLs, e.g. 'http://127.0.0.1:4010'. */
  origin: string;
}

export interface GraphResult {
  status: number;
  body: unknown;
}

export interface GraphRouteOptions {
  maxPageSize: number;
}

const PHONE_DEFAULT_FIELDS = [
  'id',
  'display_phone_number',
  'verified_name',
  'quality_rating',
  'code_verification_status',
  'platform_type',
  'throughput',
];
const TEMPLATE_FIELDS = ['id', 'name', 'language', 'status', 'category', 'parameter_format', 'components'];
const DEFAULT_PAGE_LIMIT = 25;

export async function handleGraphRequest(state: SandboxState, req: GraphRequest, options: GraphRouteOptions): Promise<GraphResult> {
  const { method, objectId, edge } = req;
  if (objectId === 'debug_token' && edge === undefined && method === 'GET') return ok(debugToken(state, req.query));
  if (objectId === 'app' && edge === undefined && method === 'GET') {
    return ok(project({ ...state.app }, req.query, ['id', 'name', 'link'], 'Application'));
  }
  if (objectId === state.phoneNumber.id) {
    if (edge === undefined && method === 'GET') {
      const node = { ...state.phoneNumber, webhook_configuration: webhookConfiguration(state) };
      return ok(project(node, req.query, PHONE_DEFAULT_FIELDS, 'WhatsAppBusinessPhoneNumber'));
    }
    if (edge === undefined && method === 'POST') {
      const config = isRecord(req.body) ? req.body.webhook_configuration : undefined;
      if (!isRecord(config) || !('override_callback_uri' in config)) {
        throw invalidParameter('The parameter webhook_configuration is required.');
      }
      // An empty override removes it (deliveries go back to the WABA's or the app's URL), no handshake needed.
      const override = config.override_callback_uri === ''
        ? ''
        : await verifyCallbackUrl(config.override_callback_uri, config.verify_token, 'webhook_configuration[override_callback_uri]');
      state.setPhoneCallbackOverride(override);
      return ok({ success: true });
    }
    if (edge === 'messages' && method === 'POST') return ok(handleMessagesPost(state, objectId, req.body));
    if (edge === 'media' && method === 'POST') return ok(uploadMedia(state.media, req.body));
  }
  if (edge === undefined && state.media.has(objectId)) {
    // `?phone_number_id=` asks Meta to check the media belongs to that number.
    const owner = req.query.get('phone_number_id');
    if (owner !== null && owner !== state.phoneNumber.id) throw unsupportedRequest(method, objectId);
    if (method === 'GET') return ok(mediaInfo(state.media, objectId, req.origin));
    if (method === 'DELETE') {
      state.media.delete(objectId);
      return ok({ success: true });
    }
  }
  if (objectId === state.wabaId) {
    if (edge === undefined && method === 'GET') {
      const waba = { id: state.wabaId, name: 'Lumen Sandbox WABA', currency: 'USD', timezone_id: '1' };
      return ok(project(waba, req.query, ['id', 'name'], 'WhatsAppBusinessAccount'));
    }
    if (edge === 'message_templates' && method === 'GET') return ok(listTemplates(state, req, options));
    if (edge === 'subscribed_apps') {
      if (method === 'GET') return ok(listSubscribedApps(state));
      if (method === 'POST') {
        const body = isRecord(req.body) ? req.body : {};
        const override = body.override_callback_uri;
        // Meta verifies an override before it keeps it; a POST without one subscribes (and removes the override).
        const verified = override === undefined || override === ''
          ? ''
          : await verifyCallbackUrl(override, body.verify_token, 'override_callback_uri');
        state.subscribe(verified);
        return ok({ success: true });
      }
      if (method === 'DELETE') {
        state.unsubscribe();
        return ok({ success: true });
      }
    }
  }
  // Unknown ids, edges and methods all get Meta's "Unsupported <method> request" (100/33).
  throw unsupportedRequest(method, objectId);
}

function listSubscribedApps(state: SandboxState): unknown {
  const { id, name, link } = state.app;
  const override = state.wabaCallbackOverride ? { override_callback_uri: state.wabaCallbackOverride } : {};
  return { data: state.subscribed ? [{ whatsapp_business_api_data: { id, name, link }, ...override }] : [] };
}

/** As Meta reads it back: each level's URL, only those set. */
function webhookConfiguration(state: SandboxState): Record<string, string> {
  const config: Record<string, string> = {};
  if (state.phoneCallbackOverride) config.phone_number = state.phoneCallbackOverride;
  if (state.subscribed && state.wabaCallbackOverride) config.whatsapp_business_account = state.wabaCallbackOverride;
  if (state.appCallbackUrl) config.application = state.appCallbackUrl;
  return config;
}

/** `GET /debug_token?input_token=…`: the sandbox's one token is a never-expiring System User token of its app. */
function debugToken(state: SandboxState, query: URLSearchParams): unknown {
  const input = query.get('input_token');
  if (input === null || input === '') throw invalidParameter('The parameter input_token is required');
  if (input !== state.accessToken) {
    return { data: { is_valid: false, error: { code: 190, message: 'Invalid OAuth access token - Cannot parse access token' }, scopes: [] } };
  }
  const targets = [state.wabaId];
  return {
    data: {
      app_id: state.app.id,
      type: 'SYSTEM_USER',
      application: state.app.name,
      data_access_expires_at: 0,
      expires_at: 0,
      is_valid: true,
      scopes: [...state.tokenScopes],
      granular_scopes: state.tokenScopes.map((scope) => ({ scope, target_ids: targets })),
      user_id: '100000000000001',
    },
  };
}

function ok(body: unknown): GraphResult {
  return { status: 200, body };
}

/** Applies `?fields=`: only the named fields plus id; unknown names are Meta's (#100) nonexisting field. */
function project<T extends { id: string }>(
  node: T,
  query: URLSearchParams,
  defaults: readonly string[],
  nodeType: string,
): Record<string, unknown> {
  const requested = parseFields(query);
  const fields = requested ?? defaults;
  const source = node as Record<string, unknown>;
  const result: Record<string, unknown> = { id: node.id };
  for (const field of fields) {
    if (!(field in source)) throw nonexistingField(field, nodeType);
    result[field] = structuredClone(source[field]);
  }
  return result;
}

function parseFields(query: URLSearchParams): string[] | undefined {
  const raw = query.get('fields');
  if (raw === null || raw.trim() === '') return undefined;
  return raw
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f !== '');
}

function listTemplates(state: SandboxState, req: GraphRequest, options: GraphRouteOptions): unknown {
  const { query } = req;
  const matching = filterTemplates(state.listTemplates(), query);
  const limit = parseLimit(query.get('limit'));
  const pageSize = Math.max(1, Math.min(limit ?? DEFAULT_PAGE_LIMIT, options.maxPageSize));

  // Cursors are positions in the filtered list, so the same query keeps paging consistent.
  const after = query.get('after');
  const before = query.get('before');
  let start = 0;
  let end: number;
  if (after !== null) {
    start = decodeCursor(after) + 1;
    end = start + pageSize;
  } else if (before !== null) {
    end = decodeCursor(before);
    start = Math.max(0, end - pageSize);
  } else {
    end = pageSize;
  }
  const page = matching.slice(start, Math.min(end, matching.length));
  const data = page.map((t) => project(t, query, TEMPLATE_FIELDS, 'WhatsAppBusinessHSM'));
  if (data.length === 0) return { data }; // Meta sends no paging for an empty page

  const last = start + page.length - 1;
  const paging: Record<string, unknown> = { cursors: { before: encodeCursor(start), after: encodeCursor(last) } };
  if (last + 1 < matching.length) paging.next = pageUrl(req, 'after', encodeCursor(last));
  if (start > 0) paging.previous = pageUrl(req, 'before', encodeCursor(start));
  return { data, paging };
}

function filterTemplates(templates: readonly SandboxTemplate[], query: URLSearchParams): SandboxTemplate[] {
  const statuses = query.get('status')?.toUpperCase().split(',').map((s) => s.trim());
  const name = query.get('name')?.toLowerCase();
  const language = query.get('language');
  const category = query.get('category')?.toUpperCase();
  return templates.filter(
    (t) =>
      (statuses === undefined || statuses.includes(t.status)) &&
      // Meta matches `name` as a substring; callers wanting one template compare names themselves.
      (name === undefined || t.name.toLowerCase().includes(name)) &&
      (language === null || t.language === language) &&
      (category === undefined || t.category === category),
  );
}

function parseLimit(raw: string | null): number | undefined {
  if (raw === null || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) throw invalidParameter(`Param limit must be a non-negative integer - got "${raw}".`);
  const limit = Number(raw);
  return limit === 0 ? undefined : limit;
}

/** Meta's cursor style: base64 of the position with '=' written as 'ZD' (e.g. 'MAZDZD' is 0). */
function encodeCursor(position: number): string {
  return Buffer.from(String(position)).toString('base64').replace(/=/g, 'ZD');
}

function decodeCursor(cursor: string): number {
  for (let pads = 0; pads <= 2; pads += 1) {
    const suffix = 'ZD'.repeat(pads);
    if (pads > 0 && !cursor.endsWith(suffix)) continue;
    const decoded = Buffer.from(cursor.slice(0, cursor.length - suffix.length) + '='.repeat(pads), 'base64').toString();
    if (/^\d+$/.test(decoded) && encodeCursor(Number(decoded)) === cursor) return Number(decoded);
  }
  throw invalidParameter(`Invalid cursor '${cursor}'.`);
}

/** Same path and query (including any access_token, as Meta does), with the new cursor. */
function pageUrl(req: GraphRequest, direction: 'after' | 'before', cursor: string): string {
  const query = new URLSearchParams(req.query);
  query.delete('after');
  query.delete('before');
  query.set(direction, cursor);
  return `${req.origin}/${req.version}/${req.objectId}/${req.edge ?? ''}?${query.toString()}`;
}
