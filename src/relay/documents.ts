/**
 * The documents the user's code receives for what is not an inbound message (`--events`), each with its `object`,
 * and the one-line summary the relay prints (and `lumen events tail` shows) for each change.
 */
import { CHANGE_OBJECTS } from '../store/repos/changes.js';
import type { FieldChange, StatusUpdate } from './types.js';

/** What `--events` chooses from; `all` is every one. */
export const EVENT_GROUPS = ['messages', 'statuses', 'templates', 'account', 'preferences', 'echoes', 'edits'] as const;
export type EventGroup = (typeof EVENT_GROUPS)[number];

/** The `--events` group each change belongs to. */
export function changeGroup(change: FieldChange): EventGroup {
  switch (change.kind) {
    case 'template':
      return 'templates';
    case 'account':
      return 'account';
    case 'preference':
      return 'preferences';
    case 'echo':
      return 'echoes';
    case 'edit':
    case 'revoke':
      return 'edits';
  }
}

/** `messages,statuses` → the set; `all` → every group. Unknown names are refused by the caller. */
export function parseEventGroups(value: string): { groups: Set<EventGroup>; unknown: string[] } {
  const names = value.split(',').map((n) => n.trim().toLowerCase()).filter((n) => n !== '');
  if (names.includes('all')) return { groups: new Set(EVENT_GROUPS), unknown: [] };
  const aliases: Record<string, EventGroup> = { message: 'messages', status: 'statuses', template: 'templates', accounts: 'account', preference: 'preferences', echo: 'echoes', edit: 'edits' };
  const groups = new Set<EventGroup>();
  const unknown: string[] = [];
  for (const name of names) {
    const group = (EVENT_GROUPS as readonly string[]).includes(name) ? (name as EventGroup) : aliases[name];
    if (group) groups.add(group);
    else unknown.push(name);
  }
  return { groups, unknown };
}

export function changeDocument(change: FieldChange, integrationId: string, receivedAt: string): Record<string, unknown> {
  const { kind: _kind, raw, ...fields } = change;
  return { object: CHANGE_OBJECTS[change.kind], integrationId, ...fields, receivedAt, raw };
}

export function statusDocument(status: StatusUpdate, integrationId: string, receivedAt: string): Record<string, unknown> {
  const { raw, phoneNumberId: _phone, ...fields } = status;
  return { object: 'status', integrationId, ...fields, receivedAt, raw };
}

/** One human line for a change, e.g. `template abandoned_cart (en) is REJECTED: INVALID_FORMAT`. */
export function describeChange(change: FieldChange): string {
  switch (change.kind) {
    case 'template': {
      const name = `${change.name ?? change.templateId ?? '?'}${change.language ? ` (${change.language})` : ''}`;
      if (change.status) return `template ${name} is ${change.status}${change.reason ? `: ${change.reason}` : ''}`;
      if (change.category) return `template ${name} is now ${change.category}${change.previousCategory ? ` (was ${change.previousCategory})` : ''}`;
      if (change.quality) return `template ${name} quality ${change.quality}`;
      return `template ${name} components changed`;
    }
    case 'account': {
      const parts = [
        change.event,
        change.qualityRating && `quality ${change.qualityRating}`,
        change.messagingLimit && `limit ${change.messagingLimit}`,
        change.restriction && `restricted: ${change.restriction}`,
        change.coexistence === true && 'on the WhatsApp Business app too (coexistence)',
      ].filter(Boolean);
      return `${change.field}${parts.length > 0 ? ` ${parts.join(' · ')}` : ''}`;
    }
    case 'preference':
      return `${change.contact} ${change.value} ${change.category}${change.detail ? ` (${change.detail})` : ''}`;
    case 'echo':
      return `sent from the WhatsApp Business app to ${change.to}: ${JSON.stringify(change.text.slice(0, 80))}`;
    case 'edit':
      return `${change.originalWamid} edited: ${JSON.stringify((change.text ?? '').slice(0, 80))}`;
    case 'revoke':
      return `${change.originalWamid} deleted`;
  }
}
