import type { GraphTemplate } from '../graph/types.js';
import type { SecretBackendKind } from '../secrets/types.js';
import type { FieldChange, StatusPricing } from './changes.js';
import type { ForwardQueueRepo } from './repos/forward-queue.js';
import type { FactsRepo } from './repos/facts.js';

export interface Workspace {
  id: string;
  name: string;
  approvalPolicy: string;
  createdAt: string;
}

/** A connected WhatsApp number. No secrets here: `secretStore` + `secretRef` say where they live. */
export interface Integration {
  id: string;
  workspaceId: string;
  channel: 'whatsapp';
  label: string;
  phoneNumberId: string;
  wabaId: string;
  displayPhoneNumber: string | null;
  verifiedName: string | null;
  qualityRating: string | null;
  verifyTokenHash: string;
  secretStore: SecretBackendKind;
  secretRef: string;
  publicUrl: string | null;
  appSubscribed: boolean;
  templatesSyncedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** One value a send must supply for a template, in the order Meta expects (stored with each synced template). */
export interface TemplateParameter {
  component: 'header' | 'body' | 'button';
  /** "1", "2", … for positional templates; the placeholder's name for named ones; the kind for media headers. */
  name: string;
  type: 'text' | 'image' | 'video' | 'document' | 'location' | 'coupon_code';
  /** For buttons: the button's position in the template and its kind. */
  buttonIndex?: number;
  subType?: 'url' | 'copy_code';
  example?: string;
}

export interface TemplateRecord {
  integrationId: string;
  templateId: string;
  name: string;
  language: string;
  status: string;
  category: string | null;
  parameterFormat: 'POSITIONAL' | 'NAMED';
  requiredParameters: TemplateParameter[];
  raw: GraphTemplate;
  syncedAt: string;
  /** Why Meta gave this status (a rejection's reason, a pause's title), from its webhook or the sync. */
  statusReason?: string | null;
  /** Meta's quality score (GREEN, YELLOW, RED, UNKNOWN), from its webhook. */
  qualityScore?: string | null;
  /** When a webhook last changed it. */
  webhookUpdatedAt?: string | null;
}

export interface TemplateSyncCounts {
  total: number;
  added: number;
  updated: number;
  removed: number;
}

export type ApprovalPolicy = 'none' | 'templates' | 'all';

export interface WorkspaceRepo {
  /** The workspace with this name, created on first use. */
  ensure(name: string, now: string): Promise<Workspace>;
  findByName(name: string): Promise<Workspace | undefined>;
  findById(id: string): Promise<Workspace | undefined>;
  /** Every workspace, by name. */
  list(): Promise<Workspace[]>;
  setApprovalPolicy(id: string, policy: ApprovalPolicy): Promise<void>;
}

export interface IntegrationRepo {
  list(workspaceId: string): Promise<Integration[]>;
  /** Every integration of every workspace (the relay serves them all). */
  listAll(): Promise<Array<Integration & { workspaceName: string }>>;
  findById(id: string): Promise<Integration | undefined>;
  findByPhoneNumberId(workspaceId: string, phoneNumberId: string): Promise<Integration | undefined>;
  /** Inserts or replaces the integration and its templates in one transaction. */
  saveWithTemplates(integration: Integration, templates: TemplateRecord[]): Promise<TemplateSyncCounts>;
  setVerifyTokenHash(id: string, hash: string, now: string): Promise<void>;
  /** The public base URL lumen registered (or printed) as the number's Callback URL. */
  setPublicUrl(id: string, publicUrl: string | null, now: string): Promise<void>;
  /** Removes the integration and its templates. */
  delete(id: string): Promise<boolean>;
  /**
   * A number that moves whenever any integration is added, changed or removed (kept by the schema's triggers, so
   * every writer moves it): a long-running reader compares it per request instead of caching blindly.
   */
  changeMarker(): Promise<number>;
}

export interface TemplateRepo {
  /** Replaces the integration's templates with these (one transaction). */
  replaceAll(integrationId: string, templates: TemplateRecord[], now: string): Promise<TemplateSyncCounts>;
  list(integrationId: string, filter?: { status?: string | undefined }): Promise<TemplateRecord[]>;
  findByName(integrationId: string, name: string): Promise<TemplateRecord[]>;
}

/** Everything services may read or write. SQLite today; a server database could implement the same. */
export interface Store {
  /** Which database holds the state: the SQLite file in LUMEN_HOME, or a PostgreSQL server (LUMEN_DATABASE_URL). */
  backend: 'sqlite' | 'postgres';
  workspaces: WorkspaceRepo;
  integrations: IntegrationRepo;
  templates: TemplateRepo;
  inbox: InboxRepo;
  dispatch: DispatchRepo;
  outbound: OutboundRepo;
  sendSlots: SendSlotRepo;
  media: MediaRepo;
  maintenance: MaintenanceRepo;
  console: ConsoleRepo;
  /** What is handed to the user's code besides messages: event documents (--events) and raw deliveries (--forward-raw). */
  forwards: { events: ForwardQueueRepo; raw: ForwardQueueRepo };
  /** Webhook facts lumen keeps: account facts, preferences, usage, the event log. */
  facts: FactsRepo;
  /**
   * The one relay a SQLite database allows (one per LUMEN_HOME). Absent on PostgreSQL, where many relays share the
   * database and a dead one's claims simply run out (DISPATCH_LEASE_MS).
   */
  relayLease?: RelayLeaseRepo;
  /** SQLite's `PRAGMA quick_check` (PostgreSQL: a round trip through the schema): 'ok', or the first problem found. */
  quickCheck(): Promise<string>;
  close(): Promise<void>;
}

/** Who holds a relay lease: a random id per running relay, its process and the machine it runs on. */
export interface RelayLeaseHolder {
  holder: string;
  pid: number;
  host: string;
}

export interface RelayLeaseRepo {
  /**
   * Takes the lease until `until` (ISO) in one transaction, unless another holder has it: one whose lease has not run
   * out and whose process `alive` says still runs (asked only for a holder on this host). Returns who has it then.
   */
  take(holder: RelayLeaseHolder, now: string, until: string, alive: (pid: number) => boolean): Promise<
    { taken: true } | { taken: false; current: RelayLeaseHolder }
  >;
  /** Moves this holder's lease on; false when it is no longer the holder (another relay took it over). */
  renew(holder: string, until: string): Promise<boolean>;
  /** Gives the lease up (nothing when this holder no longer has it). */
  release(holder: string): Promise<void>;
}

/** What a purge covers: everything older than `cutoff` (ISO), in one workspace or (the relay's retention) all. */
export interface PurgeScope {
  cutoff: string;
  workspaceId?: string | undefined;
}

export interface PurgeCounts {
  /** Inbound messages (with their raw payloads and finished deliveries). */
  inbound: number;
  /** Sent messages in a settled state (their request bodies). */
  outbound: number;
  /** Status webhooks. */
  statuses: number;
  webhookErrors: number;
  /** Other webhook fields' documents (template, account…) and raw deliveries kept for --forward-raw, once handed on. */
  webhookEvents: number;
  /** Media records (received with a purged message, or uploaded). */
  media: number;
  /** Senders with no message left since the cutoff. */
  contacts: number;
  /** Old inbound messages kept because their delivery to the user's code is still pending or retrying. */
  keptUndelivered: number;
  /** The files of removed media records that no remaining record points at (for a plan: would point at). */
  files: string[];
}

export interface StoreStats {
  /** Deliveries to the user's code not done yet (pending or retrying). */
  dispatchQueueDepth: number;
  dispatchOldestCreatedAt: string | null;
  outboundByState: Record<string, number>;
}

/** Keeping a long-running home healthy: readiness, metrics, retention, export and backup. */
export interface MaintenanceRepo {
  /** Throws when the database cannot be written (a full disk, a read-only file system, a lock held too long). */
  checkWritable(): Promise<void>;
  stats(): Promise<StoreStats>;
  /** What `purge` would remove now (nothing is written). */
  plan(scope: PurgeScope): Promise<PurgeCounts>;
  /** Removes what `plan` counts, in short transactions; returns what it removed. */
  purge(scope: PurgeScope): Promise<PurgeCounts>;
  /** Inbound messages, oldest first, read one at a time. */
  interactions(filter: { workspaceId?: string | undefined; from?: string | undefined; since?: string | undefined }): AsyncIterable<Interaction>;
  /** An online copy of the whole database (consistent, safe while the relay writes) at `destination`. */
  backup(destination: string): Promise<{ pages: number }>;
}

/** An inbound message as stored: what `messages list` shows and what the user's code receives. */
export interface Interaction {
  id: string;
  workspaceId: string;
  integrationId: string;
  channel: 'whatsapp';
  wamid: string;
  phoneNumberId: string;
  from: string;
  fromKind: 'phone' | 'user_id';
  contactName: string | null;
  type: string;
  text: string;
  mediaId: string | null;
  replyTo: string | null;
  /** Meta's timestamp of the message. */
  timestamp: string;
  receivedAt: string;
  raw: Record<string, unknown>;
  /** The sender's user id (Meta's business-scoped id), also for phone senders when Meta gives it. */
  userId: string | null;
  parentUserId: string | null;
  /** Earlier texts, oldest first, when the sender edited it. */
  previousTexts?: Array<{ text: string; at: string }>;
  /** When the sender deleted it (revoke). */
  deletedAt?: string | null;
}

export type NewInteraction = Omit<Interaction, 'id' | 'receivedAt' | 'workspaceId' | 'userId' | 'parentUserId' | 'previousTexts' | 'deletedAt'> & {
  userId: string | null;
  parentUserId: string | null;
  /** The media it carries, recorded with it (state pending) and fetched after the 200. */
  media: { id: string; mimeType: string | null; sha256: string | null; caption: string | null; filename: string | null } | null;
};

export type MediaState = 'pending' | 'stored' | 'failed' | 'uploaded';

/** A media file lumen received (fetched after the 200 into LUMEN_HOME/media) or uploaded. */
export interface MediaRecord {
  integrationId: string;
  mediaId: string;
  workspaceId: string;
  /** The inbound message it came with (`in_<seq>`), if any. */
  interactionId: string | null;
  direction: 'in' | 'out';
  state: MediaState;
  mimeType: string | null;
  /** Hex SHA-256 of the stored file (Meta's, checked). */
  sha256: string | null;
  size: number | null;
  filename: string | null;
  caption: string | null;
  path: string | null;
  attempts: number;
  nextAttemptAt: string | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface MediaRepo {
  /** Claims up to `limit` pending downloads that are due and unclaimed (or whose claim expired), in one statement. */
  claimDue(now: string, leaseUntil: string, limit: number): Promise<MediaRecord[]>;
  markStored(integrationId: string, mediaId: string, file: { path: string; size: number; sha256: string; mimeType: string | null }, now: string): Promise<void>;
  /** A failed attempt: retried at `nextAttemptAt`, or given up (`failed`) when that is null. */
  markAttemptFailed(integrationId: string, mediaId: string, error: string, nextAttemptAt: string | null, now: string): Promise<void>;
  /** A file lumen uploaded to send (state `uploaded`). */
  recordUpload(record: Omit<MediaRecord, 'interactionId' | 'direction' | 'state' | 'attempts' | 'nextAttemptAt' | 'lastError' | 'createdAt' | 'updatedAt'>, now: string): Promise<void>;
  find(integrationId: string, mediaId: string): Promise<MediaRecord | undefined>;
  /** By media id in any of the workspace's numbers. */
  findInWorkspace(workspaceId: string, mediaId: string): Promise<MediaRecord | undefined>;
  forInteraction(interactionId: string): Promise<MediaRecord | undefined>;
  list(workspaceId: string, limit: number): Promise<MediaRecord[]>;
  /** Extends the claims on these downloads (still pending and claimed) to `leaseUntil`, while they are fetched. */
  renewClaims(keys: Array<{ integrationId: string; mediaId: string }>, leaseUntil: string): Promise<void>;
  /** Drops every claim (for the one fetcher on this database, at start; as DispatchRepo.releaseClaims). */
  releaseClaims(): Promise<number>;
  /** Whether any record points at this file: by its path, or (a file is named by its hash) by its hash. */
  fileInUse(path: string, sha256: string | null): Promise<boolean>;
}

export interface NewStatus {
  integrationId: string;
  wamid: string;
  status: string;
  recipientId: string | null;
  timestamp: string;
  errorCode: number | null;
  errorTitle: string | null;
  errorDetails: string | null;
  /** Meta's pricing of the message, recorded on it (the latest status that carries one wins). */
  pricing?: StatusPricing | null;
  /** With `--events statuses`: the document the user's code gets, queued when the status is new. */
  forwardDoc?: Record<string, unknown> | undefined;
  raw: Record<string, unknown>;
}

/** A parsed change (template, account, preference, echo, edit, revoke) and the integration it is about. */
export interface NewChange {
  integrationId: string;
  change: FieldChange;
  /** The document the user's code gets for it (and `events tail` shows). */
  doc: Record<string, unknown>;
  /** Queue it for the user's code (`--events` chose its object). */
  forward: boolean;
}

/** One of Meta's webhook-level errors (`value.errors[]`), as recorded. */
export interface NewWebhookError {
  integrationId: string;
  phoneNumberId: string | null;
  code: number | null;
  title: string | null;
  message: string | null;
  details: string | null;
  raw: unknown;
}

export interface WebhookErrorRecord extends Omit<NewWebhookError, 'raw'> {
  id: number;
  receivedAt: string;
}

/** One verified delivery's worth of writes. */
export interface IngestJob {
  workspaceId: string;
  receivedAt: string;
  messages: NewInteraction[];
  statuses: NewStatus[];
  errors?: NewWebhookError[];
  changes?: NewChange[];
  /** --forward-raw: Meta's exact body and signature header, queued for the user's code. */
  raw?: { integrationId: string; body: Buffer; signature: string } | undefined;
  /** Queue each new interaction for the user's code (a forward target or command is configured). */
  enqueueDispatch: boolean;
}

export interface IngestOutcome {
  /** Interactions stored by this job (a redelivered wamid is not stored again). */
  stored: Interaction[];
  duplicates: number;
  statusesStored: number;
  errorsStored: number;
  /** Changes applied (a redelivered echo or edit changes nothing again). */
  changesStored: number;
  /** Whether non-message events (or a raw delivery) were queued for the user's code. */
  eventsQueued: boolean;
  /** Dispatch event ids created for the stored interactions. */
  events: number[];
}

export interface InboxRepo {
  /** Applies several jobs in ONE transaction (group commit) and returns one outcome per job. */
  ingest(jobs: IngestJob[]): Promise<IngestOutcome[]>;
  listInteractions(filter: {
    workspaceId: string;
    from?: string | undefined;
    since?: string | undefined;
    limit: number;
  }): Promise<Interaction[]>;
  findInteraction(id: string): Promise<Interaction | undefined>;
  findByWamid(integrationId: string, wamid: string): Promise<Interaction | undefined>;
  listContacts(workspaceId: string): Promise<Contact[]>;
  /**
   * Meta's timestamp of the newest message this contact sent to this number (the 24-hour window's start); the
   * contact is named by its phone number or its user id, whichever it has.
   */
  lastInboundAt(integrationId: string, contactId: string): Promise<string | undefined>;
  /** Meta's webhook-level errors, newest first. */
  listWebhookErrors(workspaceId: string, limit: number): Promise<WebhookErrorRecord[]>;
  /** Deletes the stored messages, contacts, statuses and events of an integration. */
  purgeIntegration(integrationId: string): Promise<number>;
}

export interface Contact {
  integrationId: string;
  contactId: string;
  kind: 'phone' | 'user_id';
  name: string | null;
  userId: string | null;
  parentUserId: string | null;
  firstSeenAt: string;
  lastInboundAt: string;
  messages: number;
}

/** `dropped`: given up by hand (`lumen events drop`, or the console): never attempted again unless replayed. */
export type DispatchState = 'pending' | 'retrying' | 'delivered' | 'dropped';

export interface DispatchEvent {
  id: number;
  interactionId: string;
  workspaceId: string;
  state: DispatchState;
  attempts: number;
  nextAttemptAt: string;
  lastTarget: string | null;
  lastStatus: number | null;
  lastError: string | null;
  lastDurationMs: number | null;
  createdAt: string;
  deliveredAt: string | null;
  /** While a relay works on the event, until when its claim holds (then another relay may take it over). */
  claimedUntil: string | null;
}

export interface DispatchRepo {
  /**
   * Claims up to `limit` events that are due (pending or retrying with next_attempt_at ≤ now) and not claimed by
   * anyone else (or whose claim expired), oldest first, in one statement: until `leaseUntil` they are this caller's.
   */
  claimDue(now: string, leaseUntil: string, limit: number): Promise<DispatchEvent[]>;
  /**
   * Drops every dispatcher's claim (a replay's stays). Only for a process that is the one dispatcher on this database
   * (SQLite: one relay per LUMEN_HOME), at start: claims left by a relay that was killed are then retried at once, not
   * after their lease.
   */
  releaseClaims(): Promise<number>;
  /**
   * Extends the claims on `ids` that are still held (not yet marked delivered, failed or postponed; or delivered with
   * replies still to send) to `leaseUntil`: a live relay renews what it is working on, so only a dead relay's claims
   * expire.
   */
  renewClaims(ids: number[], leaseUntil: string): Promise<void>;
  /**
   * Claims one event, whatever its state, for a delivery made outside the dispatcher (`lumen events replay` to a
   * target): false while another claim on it holds (a relay delivering it right now).
   */
  claimOne(id: number, now: string, leaseUntil: string): Promise<boolean>;
  /** Extends a claim made by claimOne while it is held, whatever the event's state (a replay of a delivered one). */
  renewClaim(id: number, leaseUntil: string): Promise<void>;
  /** Ends a claim without recording an attempt (a replay whose delivery failed). */
  releaseClaim(id: number): Promise<void>;
  /** Puts an event back until `until` without counting an attempt (it waits for its media file). */
  postpone(id: number, until: string): Promise<void>;
  /** An event postponed before any attempt is due now (its media file settled). */
  makeDue(interactionId: string, now: string): Promise<void>;
  /**
   * Records the delivery. With `replies` (what the user's code answered, still to send), they are kept with it, in the
   * same statement, and the claim stays held until `replies.leaseUntil`: the replier renews it (renewClaims) and ends
   * it with repliesSent; a relay killed in between leaves them for claimReplies.
   */
  markDelivered(
    id: number,
    result: { target: string; status: number | null; durationMs: number; at: string; replies?: { json: string; leaseUntil: string } },
  ): Promise<void>;
  /**
   * Claims up to `limit` delivered events whose replies are still to send and that nobody holds (a killed relay's,
   * once its claim ran out or was released), in one statement: until `leaseUntil` they are this caller's.
   */
  claimReplies(now: string, leaseUntil: string, limit: number): Promise<Array<{ id: number; interactionId: string; replies: string }>>;
  /** The replies kept with a delivery (`json`, as markDelivered stored them) were all sent or refused: forgets them, ends the claim. */
  repliesSent(id: number, json: string): Promise<void>;
  markFailed(
    id: number,
    result: { target: string; status: number | null; error: string; durationMs: number; nextAttemptAt: string },
  ): Promise<void>;
  list(filter: { workspaceId: string; failedOnly: boolean; limit: number }): Promise<DispatchEvent[]>;
  find(id: number): Promise<DispatchEvent | undefined>;
  /** Gives an undelivered event up (`dropped`); false when it was delivered or dropped already. */
  drop(id: number, now: string): Promise<boolean>;
  /**
   * Queues an event again (replay), or creates one for an interaction that never had one. A claim on it holds, so
   * nothing delivers it twice at once: an event being delivered right now is answered by that delivery.
   */
  requeue(interactionId: string, workspaceId: string, now: string): Promise<DispatchEvent>;
}

export type OutboundState =
  | 'pending_approval'
  | 'rejected'
  | 'queued'
  /** The request went to Meta and no answer was recorded yet (or the process died waiting). */
  | 'sending'
  | 'accepted'
  | 'sent'
  | 'delivered'
  | 'read'
  | 'failed';

/** A message lumen sends (or was asked to): its request, its fate at Meta, and its delivery state. */
export interface OutboundMessage {
  id: string;
  workspaceId: string;
  integrationId: string;
  wamid: string | null;
  recipient: string;
  /** A phone number's digits, or a username user's id (sent as `recipient`). */
  recipientKind: 'phone' | 'user_id';
  /** The Cloud API message type: text, template, image, interactive, location, reaction, … */
  kind: 'text' | 'template' | (string & {});
  body: Record<string, unknown>;
  state: OutboundState;
  errorCode: number | null;
  errorTitle: string | null;
  errorDetails: string | null;
  fbtraceId: string | null;
  source: 'cli' | 'auto_reply' | (string & {});
  inReplyTo: string | null;
  idempotencyKey: string | null;
  templateName: string | null;
  templateLanguage: string | null;
  /** Sent outside the 24-hour window on purpose (--force). */
  forceWindow: boolean;
  approvedBy: string | null;
  approvedAt: string | null;
  rejectedBy: string | null;
  rejectedAt: string | null;
  rejectReason: string | null;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  /** Meta's pricing of it, from its status webhooks. */
  pricing?: StatusPricing | null;
  /** Earlier texts, oldest first, when it was edited (from the WhatsApp Business app). */
  previousTexts?: Array<{ text: string; at: string }>;
  /** When it was deleted (revoked). */
  deletedAt?: string | null;
}

export interface StatusEntry {
  status: string;
  occurredAt: string;
  receivedAt: string;
  errorCode: number | null;
  errorTitle: string | null;
  errorDetails: string | null;
}

export interface OutboundRepo {
  findByIdempotencyKey(integrationId: string, key: string): Promise<OutboundMessage | undefined>;
  /**
   * Inserts the message unless its idempotency key is taken already; either way returns the row that holds the key
   * (`created` tells which). Two processes with the same key at the same moment get the same row.
   */
  insertOrFind(message: OutboundMessage): Promise<{ message: OutboundMessage; created: boolean }>;
  /**
   * Claims a message for sending, atomically (queued or failed → sending, counting the attempt): the caller that
   * gets it back is the only one that may call Meta; undefined means someone else has it or it is decided.
   */
  claimForSending(id: string, now: string): Promise<OutboundMessage | undefined>;
  /**
   * queued → failed with `title` (a send stopped before anything reached Meta), only while it is queued: false when
   * someone claimed it meanwhile.
   */
  abandonQueued(id: string, title: string, now: string): Promise<boolean>;
  /** pending_approval → queued, once: false when it was not pending (approved or rejected already). */
  approve(id: string, by: string, now: string): Promise<boolean>;
  reject(id: string, by: string, reason: string, now: string): Promise<boolean>;
  listByState(workspaceId: string, state: OutboundState, limit: number): Promise<OutboundMessage[]>;
  /** The workspace's sent (and held) messages, newest first; optionally to one recipient and since a time. */
  list(filter: { workspaceId: string; to?: string | undefined; since?: string | undefined; limit: number }): Promise<OutboundMessage[]>;
  /** Every status webhook received for a wamid, oldest first. */
  /** The statuses the number's webhook delivered for a message it sent. */
  timeline(integrationId: string, wamid: string): Promise<StatusEntry[]>;
  /** Records Meta's answer: accepted with a wamid, or failed with the error. */
  markAccepted(id: string, wamid: string, now: string): Promise<void>;
  markFailed(
    id: string,
    error: { code: number | null; title: string | null; details: string | null; fbtraceId: string | null },
    now: string,
  ): Promise<void>;
  findById(id: string): Promise<OutboundMessage | undefined>;
  findByWamid(wamid: string): Promise<OutboundMessage | undefined>;
}

/** One rate-limited key of a send (a number, a workspace): its grid's interval and how many sends a second it allows. */
export interface SendSlotKey {
  key: string;
  /** The spacing of the grid: 1000 / rate. */
  intervalMs: number;
  /** R: no 1-second window at the receiver may hold more than this many of the key's sends (whole sends, ≥ 1). */
  perSecond: number;
}

/** What a taken slot needs to be marked answered: the send's place in each key's log. */
export interface SendSlotToken {
  readonly sends: ReadonlyArray<{ readonly key: string; readonly seq: number }>;
}

export type SendSlotTake = { taken: true; token: SendSlotToken } | { taken: false; waitMs: number };

/**
 * Send-rate slots shared by every process using the same database. A slot is given when, for every key, the grid is
 * due and fewer than R of the key's sends may still reach Meta within a second: a request reaches Meta between its
 * slot and its answer, so a send counts until a second after its answer (or, never answered, until a second after
 * `longestSendMs` past its slot). Then no R + 1 sends of a key ever arrive within one second, whatever the network's
 * jitter and however many processes send.
 */
export interface SendSlotRepo {
  /**
   * Takes a send slot for all the keys at once if every one is free: records the send in each key's log and moves
   * each key's grid `intervalMs` on; else takes nothing and says how long to wait (the earliest moment the slot
   * could be free). `again`: the caller waited after a take that was not free, and asks again (a store whose takes
   * lock may first look without the locks, so that senders that must wait once more do not queue for them).
   */
  take(keys: SendSlotKey[], options: { nowMs: number; longestSendMs: number; again?: boolean }): Promise<SendSlotTake>;
  /** The send's Graph call returned (sent, refused or failed alike); a second call for the same token does nothing. */
  answered(token: SendSlotToken, nowMs: number): Promise<void>;
}

/** One message in a conversation: what the contact sent, or what lumen sent them. */
export type ThreadItem =
  | { direction: 'in'; at: string; interaction: Interaction; media: MediaRecord | null }
  | { direction: 'out'; at: string; message: OutboundMessage };

/** Keyset cursors: a page goes on strictly before the last item of the previous one. */
export interface ContactCursor {
  lastInboundAt: string;
  integrationId: string;
  contactId: string;
}

/** The reads the browser console needs beyond the other repos': pages of contacts, threads and events, and counts. */
export interface ConsoleRepo {
  contacts(workspaceId: string, page: { before?: ContactCursor | undefined; limit: number }): Promise<Contact[]>;
  contact(integrationId: string, contactId: string): Promise<Contact | undefined>;
  /** The newest `limit` messages with a contact before `before` (ISO time), oldest first. */
  thread(integrationId: string, contactId: string, page: { before?: string | undefined; limit: number }): Promise<ThreadItem[]>;
  events(workspaceId: string, page: { before?: number | undefined; limit: number; state?: DispatchState | undefined }): Promise<DispatchEvent[]>;
  /** Work waiting: deliveries to the user's code, messages to send or approve, media to fetch. */
  queueDepth(workspaceId: string): Promise<{ dispatch: number; outbound: number; pendingApproval: number; media: number }>;
  /** Messages lumen sent (or was asked to) per minute since `since`, keyed by `YYYY-MM-DDTHH:MM`. */
  sendsPerMinute(workspaceId: string, since: string): Promise<Map<string, number>>;
}
