/** Public surface of the local Cloud API emulator. */
export { startSandbox, type SandboxHandle, type SandboxOptions } from './server.js';
export {
  SANDBOX_ACCESS_TOKEN,
  SANDBOX_APP,
  SANDBOX_APP_SECRET,
  SANDBOX_DEFAULT_MAX_PAGE_SIZE,
  SANDBOX_DISPLAY_PHONE_NUMBER,
  SANDBOX_PHONE_NUMBER_ID,
  SANDBOX_VERIFIED_NAME,
  SANDBOX_WABA_ID,
  SANDBOX_WEBHOOK_DISPLAY_PHONE_NUMBER,
  seedAuthenticationTemplate,
  seedPhoneNumber,
  seedTemplates,
} from './seed.js';
export type {
  GraphErrorBody,
  MediaOrigin,
  ReadReceipt,
  SandboxEvent,
  SandboxFault,
  SandboxMediaFault,
  SandboxMediaInfo,
  SandboxStatus,
  SandboxTemplate,
  SendOutcome,
  SentMessage,
  TemplateButton,
  TemplateComponent,
} from './types.js';
export {
  INBOUND_TYPES,
  MEDIA_MESSAGE_TYPES,
  SANDBOX_INBOUND_TYPES,
  batchPayload,
  inboundMessage,
  inboundPayload,
  isSandboxInboundWamid,
  newWamid,
  serializeLikeMeta,
  statusPayload,
  type InboundMedia,
  type InboundSpec,
  type InboundType,
  type MediaMessageType,
  type NumberInfo,
  type SandboxInboundType,
  type StatusSpec,
} from './payloads.js';
export type { SandboxInboundSpec } from './inbound.js';
export { MEDIA_LIMITS, MEDIA_URL_TTL_MS, samplePdf } from './media.js';
export { metaSignatureHeaders, type WebhookDelivery } from './webhooks.js';
