/** Shapes the sandbox stores and returns. Template objects follow Meta's `message_templates` edge exactly. */

export type TemplateStatus = 'APPROVED' | 'PENDING' | 'REJECTED' | 'PAUSED' | 'DISABLED';
export type TemplateCategory = 'UTILITY' | 'MARKETING' | 'AUTHENTICATION';
export type ParameterFormat = 'POSITIONAL' | 'NAMED';

export interface TemplateButton {
  type: 'QUICK_REPLY' | 'URL' | 'PHONE_NUMBER' | 'COPY_CODE' | 'OTP';
  text: string;
  url?: string;
  phone_number?: string;
  /** Meta gives URL buttons with a `{{1}}` suffix an example list of full URLs. */
  example?: string[];
}

export interface TemplateExample {
  header_text?: string[];
  /** A media header's sample (an uploaded file's handle or URL). */
  header_handle?: string[];
  header_text_named_params?: { param_name: string; example: string }[];
  body_text?: string[][];
  body_text_named_params?: { param_name: string; example: string }[];
}

export interface TemplateComponent {
  type: 'HEADER' | 'BODY' | 'FOOTER' | 'BUTTONS';
  format?: 'TEXT' | 'IMAGE' | 'VIDEO' | 'DOCUMENT' | 'LOCATION';
  text?: string;
  buttons?: TemplateButton[];
  example?: TemplateExample;
}

export interface SandboxTemplate {
  /** Numeric string, like Meta's. */
  id: string;
  name: string;
  language: string;
  status: TemplateStatus;
  category: TemplateCategory;
  parameter_format: ParameterFormat;
  components: TemplateComponent[];
}

export interface SandboxPhoneNumber {
  id: string;
  display_phone_number: string;
  verified_name: string;
  quality_rating: 'GREEN' | 'YELLOW' | 'RED' | 'UNKNOWN';
  code_verification_status: string;
  platform_type: string;
  throughput: { level: string };
  name_status: string;
  account_mode: string;
  messaging_limit_tier: string;
  /** CONNECTED, FLAGGED, RESTRICTED, … (the number's operating status). */
  status: string;
  is_official_business_account: boolean;
}

export interface SandboxApp {
  id: string;
  name: string;
  link: string;
}

/** Meta's error object, the value of `error` in an error response body. */
export interface GraphErrorBody {
  message: string;
  type: string;
  code: number;
  error_subcode?: number;
  error_data?: { messaging_product: 'whatsapp'; details: string };
  is_transient?: boolean;
  fbtrace_id: string;
}

/** A queued failure for sends to one recipient. `code: 500` means an HTTP 500 with Meta's unknown error. */
export interface SandboxFault {
  /** A phone number (matched on its digits) or a business-scoped user id such as `US.13491208655302741918`. */
  to: string;
  code: number;
  /** How many sends fail; 0 = every send from now on. Default 1. */
  times?: number;
  /** HTTP status to answer with; default 400 (500 for `code: 500`). */
  status?: number;
}

export type SendOutcome =
  | { result: 'accepted'; status: 200; wamid: string }
  | { result: 'failed'; status: number; error: GraphErrorBody };

/** One POST to `/{phone-number-id}/messages` whose body parsed as JSON, accepted or not. */
export interface SentMessage {
  /** Milliseconds since the epoch. */
  at: number;
  phoneNumberId: string;
  /** `to` as sent (may be absent or malformed in a rejected request). */
  to: string | undefined;
  /** Digits of `to`, as Meta's `wa_id`. */
  waId: string | undefined;
  /** The business-scoped user id the send went to (`recipient`, used only when there is no `to`). */
  userId: string | undefined;
  /** The parsed request body, exactly as received. */
  body: unknown;
  outcome: SendOutcome;
}

export interface SandboxStatus {
  number: { id: string; displayPhoneNumber: string; verifiedName: string };
  waba: { id: string };
  app: { id: string; name: string };
  templates: number;
  subscribed: boolean;
  sent: number;
  pendingFaults: number;
}

/** One POST to `/{phone-number-id}/messages` with `status: "read"` (a read receipt, maybe with a typing indicator). */
export interface ReadReceipt {
  at: number;
  phoneNumberId: string;
  /** `message_id` as sent (may be absent or malformed in a rejected request). */
  messageId: string | undefined;
  /** `typing_indicator.type` when one was asked for, e.g. 'text'. */
  typingIndicator: string | undefined;
  /** The parsed request body, exactly as received. */
  body: unknown;
  outcome: { result: 'accepted'; status: 200 } | { result: 'failed'; status: number; error: GraphErrorBody };
}

export type MediaOrigin = 'upload' | 'inbound';

/** A media object the sandbox holds, as `GET /_sandbox/media` lists it (without the bytes). */
export interface SandboxMediaInfo {
  id: string;
  mimeType: string;
  /** Hex SHA-256 of the bytes, as `GET /{media-id}` returns it. */
  sha256: string;
  fileSize: number;
  /** The uploaded file's name, or the document's filename for inbound media. */
  filename: string | undefined;
  origin: MediaOrigin;
  createdAt: number;
}

/** A queued failure for media lookups (`info`: `GET /{media-id}`) or downloads of the media URL (`download`). */
export interface SandboxMediaFault {
  /** The media id; absent = any media. */
  id?: string;
  /** Default 'download'. */
  on?: 'download' | 'info';
  /** How many requests fail; 0 = every one from now on. Default 1. */
  times?: number;
  /** HTTP status, 500-599; default 500. */
  status?: number;
}

/** Emitted to in-process listeners; the future webhook sender subscribes here. */
export type SandboxEvent = { type: 'message.accepted'; message: SentMessage };
