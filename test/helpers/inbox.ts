import type { IngestJob } from '../../src/store/types.js';

/** A delivery of text messages from one sender to `integrationId`, one per wamid, as the relay hands it to the inbox. */
export const textJob = (integrationId: string, ...wamids: string[]): IngestJob => ({
  workspaceId: 'ws_1',
  receivedAt: '2026-01-01T00:00:00.000Z',
  statuses: [],
  enqueueDispatch: false,
  messages: wamids.map((wamid) => ({
    integrationId,
    channel: 'whatsapp',
    wamid,
    phoneNumberId: '106540352242922',
    from: '15551234567',
    fromKind: 'phone',
    contactName: null,
    userId: null,
    parentUserId: null,
    type: 'text',
    text: 'hi',
    mediaId: null,
    replyTo: null,
    timestamp: '2026-01-01T00:00:00.000Z',
    raw: {},
    media: null,
  })),
});
