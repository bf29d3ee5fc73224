-- Workspaces, connected numbers and their synced templates.
-- Secrets are never stored here: integrations only name the secret store that holds them.

CREATE TABLE workspaces (
  id              TEXT PRIMARY KEY,
  name            TEXT NOT NULL UNIQUE,
  approval_policy TEXT NOT NULL DEFAULT 'none',
  created_at      TEXT NOT NULL
);

CREATE TABLE integrations (
  id                   TEXT PRIMARY KEY,
  workspace_id         TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  channel              TEXT NOT NULL DEFAULT 'whatsapp',
  label                TEXT NOT NULL,
  phone_number_id      TEXT NOT NULL,
  waba_id              TEXT NOT NULL,
  display_phone_number TEXT,
  verified_name        TEXT,
  quality_rating       TEXT,
  verify_token_hash    TEXT NOT NULL,
  secret_store         TEXT NOT NULL,
  secret_ref           TEXT NOT NULL,
  public_url           TEXT,
  app_subscribed       INTEGER NOT NULL DEFAULT 0,
  templates_synced_at  TEXT,
  created_at           TEXT NOT NULL,
  updated_at           TEXT NOT NULL,
  UNIQUE (workspace_id, phone_number_id)
);

CREATE INDEX integrations_phone_number ON integrations (phone_number_id);

CREATE TABLE templates (
  integration_id      TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
  template_id         TEXT NOT NULL,
  name                TEXT NOT NULL,
  language            TEXT NOT NULL,
  status              TEXT NOT NULL,
  category            TEXT,
  parameter_format    TEXT NOT NULL,
  required_parameters TEXT NOT NULL,
  raw                 TEXT NOT NULL,
  synced_at           TEXT NOT NULL,
  PRIMARY KEY (integration_id, name, language)
);
