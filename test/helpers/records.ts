/** Integrations, templates and outbound messages as the services build them, for the store contract tests. */
import type { Integration, OutboundMessage, TemplateRecord } from '../../src/store/types.js';

export function integrationRecord(workspaceId: string, overrides: Partial<Integration> = {}): Integration {
  return {
    id: 'wa_1',
    workspaceId,
    channel: 'whatsapp',
    label: 'Care line',
    phoneNumberId: '106540352242922',
    wabaId: '102290129340398',
    displayPhoneNumber: '+1 555-010-4242',
    verifiedName: 'Lumen',
    qualityRating: 'GREEN',
    verifyTokenHash: 'sha256:00',
    secretStore: 'file',
    secretRef: 'wa_1.aa',
    publicUrl: null,
    appSubscribed: true,
    templatesSyncedAt: '2026-01-01T00:00:00.000Z',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

export function templateRecord(name: string, language = 'en_US', status = 'APPROVED', integrationId = 'wa_1'): TemplateRecord {
  return {
    integrationId,
    templateId: `${name}-${language}`,
    name,
    language,
    status,
    category: 'UTILITY',
    parameterFormat: 'POSITIONAL',
    requiredParameters: [{ component: 'body', name: '1', type: 'text', example: 'Ada' }],
    raw: { id: `${name}-${language}`, name, language, status },
    syncedAt: '2026-01-01T00:00:00.000Z',
  };
}

export function outboundRecord(id: string, overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    id,
    workspaceId: 'ws_1',
    integrationId: 'wa_1',
    wamid: null,
    recipient: '15551234567',
    recipientKind: 'phone',
    kind: 'text',
    body: { type: 'text', text: { body: `hello from ${id}` } },
    state: 'queued',
    errorCode: null,
    errorTitle: null,
    errorDetails: null,
    fbtraceId: null,
    source: 'cli',
    inReplyTo: null,
    idempotencyKey: null,
    templateName: null,
    templateLanguage: null,
    forceWindow: false,
    approvedBy: null,
    approvedAt: null,
    rejectedBy: null,
    rejectedAt: null,
    rejectReason: null,
    attempts: 0,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}
