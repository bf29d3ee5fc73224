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
  seedPhoneNumber,
  seedTemplates,
} from './seed.js';
export type {
  GraphErrorBody,
  SandboxEvent,
  SandboxFault,
  SandboxStatus,
  SandboxTemplate,
  SendOutcome,
  SentMessage,
  TemplateButton,
  TemplateComponent,
} from './types.js';
export {
  INBOUND_TYPES,
  batchPayload,
  inboundMessage,
  inboundPayload,
  newWamid,
  serializeLikeMeta,
  statusPayload,
  type InboundSpec,
  type InboundType,
  type NumberInfo,
  type StatusSpec,
} from './payloads.js';
export { metaSignatureHeaders, type WebhookDelivery } from './webhooks.js';
