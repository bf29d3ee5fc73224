import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGraphClient } from '../../src/graph/client.js';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { createMemorySecretStore } from '../../src/secrets/index.js';
import type { SecretStore } from '../../src/secrets/types.js';
import { connectWhatsApp } from '../../src/services/whatsapp/connect.js';
import { readIntegrationSecrets } from '../../src/secrets/integration.js';
import { parseSignatureHeader, signBody, verifySignature } from '../../src/relay/signature.js';
import { createServiceDeps, type ServiceDeps, type ServiceDepsInit } from '../../src/services/deps.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { makeHome, type LumenHome } from '../helpers/home.js';

let sandbox: SandboxHandle;
let home: LumenHome;
let store: Store;
let secrets: SecretStore & { keys(): string[] };

beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(() => sandbox.close());
beforeEach(() => {
  home = makeHome();
  store = openStore(home.path('lumen.db'));
  const memory = createMemorySecretStore();
  const keys = new Set<string>();
  secrets = {
    ...memory,
    kind: memory.kind,
    description: memory.description,
    get: (k) => memory.get(k),
    set: async (k, v) => {
      keys.add(k);
      await memory.set(k, v);
    },
    delete: async (k) => {
      keys.delete(k);
      return memory.delete(k);
    },
    keys: () => [...keys],
  };
});
afterEach(() => {
  store.close();
  home.cleanup();
});

function deps(overrides: Partial<ServiceDepsInit> = {}): ServiceDeps {
  return createServiceDeps({
    store,
    secrets: async () => secrets,
    graph: async (token) => createGraphClient({ baseUrl: sandbox.url, version: 'v23.0', accessToken: token }),
    now: () => new Date('2026-11-21T12:00:00Z'),
    ...overrides,
  });
}

describe('connectWhatsApp', () => {
  it('leaves no orphan secrets when the database write fails', async () => {
    // Given a database that fails on the final write (a full disk, say)
    const failingStore: Store = {
      ...store,
      integrations: {
        ...store.integrations,
        saveWithTemplates: async () => {
          throw new Error('SQLITE_FULL: database or disk is full');
        },
      },
    };
    const workspace = await store.workspaces.ensure('default', 'now');
    // When connect gets that far
    await expect(
      connectWhatsApp(deps({ store: failingStore }), {
        workspace,
        phoneNumberId: sandbox.phoneNumberId,
        wabaId: sandbox.wabaId,
        subscribe: true,
        accessToken: sandbox.accessToken,
        appSecret: sandbox.appSecret,
      }),
    ).rejects.toThrow(/disk is full/);
    // Then neither secrets nor an integration remain
    expect(secrets.keys()).toEqual([]);
    expect(await store.integrations.list(workspace.id)).toEqual([]);
  });

  it('stores the secrets under a fresh reference and only a hash of the verify token', async () => {
    const workspace = await store.workspaces.ensure('default', 'now');
    const outcome = await connectWhatsApp(deps(), {
      workspace,
      phoneNumberId: sandbox.phoneNumberId,
      wabaId: sandbox.wabaId,
      subscribe: true,
      accessToken: sandbox.accessToken,
      appSecret: sandbox.appSecret,
    });
    const saved = (await store.integrations.findById(outcome.result.id))!;
    expect(secrets.keys().sort()).toEqual([
      `integration/${saved.secretRef}/access_token`,
      `integration/${saved.secretRef}/app_secret`,
    ]);
    expect(await secrets.get(`integration/${saved.secretRef}/access_token`)).toBe(sandbox.accessToken);
    expect(saved.verifyTokenHash).not.toContain(outcome.result.webhook.verifyToken);
  });

  it('keeps an app secret pasted in upper case as Meta signs with it, so genuine deliveries pass the signature check', async () => {
    // Given the app secret typed in upper case, with a stray space
    const workspace = await store.workspaces.ensure('default', 'now');
    const outcome = await connectWhatsApp(deps(), {
      workspace,
      phoneNumberId: sandbox.phoneNumberId,
      wabaId: sandbox.wabaId,
      subscribe: true,
      accessToken: sandbox.accessToken,
      appSecret: ` ${sandbox.appSecret.toUpperCase()}`,
    });
    // When a delivery signed by Meta (with the secret as Meta has it) is checked with the stored one
    const saved = (await store.integrations.findById(outcome.result.id))!;
    const { appSecret } = await readIntegrationSecrets(deps(), saved);
    const body = Buffer.from('{"object":"whatsapp_business_account","entry":[]}');
    // Then it passes
    expect(appSecret).toBe(sandbox.appSecret.toLowerCase());
    expect(verifySignature(body, parseSignatureHeader(signBody(body, sandbox.appSecret))!, appSecret)).toBe(true);
  });
});
