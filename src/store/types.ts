import type { GraphTemplate } from '../graph/types.js';
import type { TemplateParameter } from '../services/templates/parameters.js';
import type { SecretBackendKind } from '../secrets/types.js';

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
}

export interface TemplateSyncCounts {
  total: number;
  added: number;
  updated: number;
  removed: number;
}

export interface WorkspaceRepo {
  /** The workspace with this name, created on first use. */
  ensure(name: string, now: string): Promise<Workspace>;
  findByName(name: string): Promise<Workspace | undefined>;
}

export interface IntegrationRepo {
  list(workspaceId: string): Promise<Integration[]>;
  findById(id: string): Promise<Integration | undefined>;
  findByPhoneNumberId(workspaceId: string, phoneNumberId: string): Promise<Integration | undefined>;
  /** Inserts or replaces the integration and its templates in one transaction. */
  saveWithTemplates(integration: Integration, templates: TemplateRecord[]): Promise<TemplateSyncCounts>;
  setVerifyTokenHash(id: string, hash: string, now: string): Promise<void>;
  /** Removes the integration and its templates. */
  delete(id: string): Promise<boolean>;
}

export interface TemplateRepo {
  /** Replaces the integration's templates with these (one transaction). */
  replaceAll(integrationId: string, templates: TemplateRecord[], now: string): Promise<TemplateSyncCounts>;
  list(integrationId: string, filter?: { status?: string | undefined }): Promise<TemplateRecord[]>;
  findByName(integrationId: string, name: string): Promise<TemplateRecord[]>;
}

/** Everything services may read or write. SQLite today; a server database could implement the same. */
export interface Store {
  workspaces: WorkspaceRepo;
  integrations: IntegrationRepo;
  templates: TemplateRepo;
  close(): void;
}
