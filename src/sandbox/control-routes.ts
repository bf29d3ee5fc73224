/**
 * The sandbox's own control API under /_sandbox/ (no token; the server only serves it to loopback peers).
 * Shapes are ours, not Meta's: camelCase, errors as `{error:{message}}`.
 */
import { isRecord } from './http.js';
import type { SandboxState } from './state.js';
import type { SandboxFault } from './types.js';

export interface ControlResult {
  status: number;
  body: unknown;
}

export function handleControlRequest(
  state: SandboxState,
  method: string,
  route: string,
  query: URLSearchParams,
  body: unknown,
): ControlResult {
  const key = `${method} ${route}`;
  switch (key) {
    case 'GET state':
      return { status: 200, body: state.status() };
    case 'GET sent':
      return { status: 200, body: { data: state.sent(query.get('to') ?? undefined) } };
    case 'POST faults':
      return addFault(state, body);
    case 'POST reset':
      state.reset();
      return { status: 200, body: { success: true } };
    default:
      return controlError(404, `No sandbox control route ${method} /_sandbox/${route}.`);
  }
}

function addFault(state: SandboxState, body: unknown): ControlResult {
  if (!isRecord(body)) return controlError(400, 'Body must be a JSON object {to, code, times?, status?}.');
  const fault = body as unknown as SandboxFault;
  try {
    state.addFault(fault);
  } catch (error) {
    return controlError(400, (error as Error).message);
  }
  return { status: 200, body: { success: true, fault: { to: fault.to, code: fault.code, times: fault.times ?? 1 } } };
}

function controlError(status: number, message: string): ControlResult {
  return { status, body: { error: { message } } };
}
