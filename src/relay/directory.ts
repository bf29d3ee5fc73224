import { verifyTokenMatches } from '../services/whatsapp/tokens.js';

/** What the relay needs to know about one connected number. Holds the app secret: never log it. */
export interface RelayIntegration {
  id: string;
  workspaceId: string;
  workspaceName: string;
  label: string;
  phoneNumberId: string;
  displayPhoneNumber: string | null;
  verifyTokenHash: string;
  appSecret: string;
}

/**
 * The connected numbers, kept in memory so the webhook path needs no database read. Numbers connected, updated or
 * re-keyed while the relay runs are picked up by `refresh()`, which callers use when a lookup or check fails.
 */
export class IntegrationDirectory {
  private byId = new Map<string, RelayIntegration>();
  private loadedAt = 0;
  private loading: Promise<void> | undefined;

  constructor(
    private readonly loader: () => Promise<RelayIntegration[]>,
    private readonly minRefreshIntervalMs = 1000,
  ) {}

  async load(): Promise<void> {
    const all = await this.loader();
    this.byId = new Map(all.map((i) => [i.id, i]));
    this.loadedAt = Date.now();
  }

  /** Reloads at most once per interval, however many requests ask (an unknown-id flood cannot hammer the store). */
  async refresh(): Promise<void> {
    if (Date.now() - this.loadedAt < this.minRefreshIntervalMs) return;
    this.loading ??= this.load().finally(() => {
      this.loading = undefined;
    });
    await this.loading;
  }

  get(id: string): RelayIntegration | undefined {
    return this.byId.get(id);
  }

  all(): RelayIntegration[] {
    return [...this.byId.values()];
  }

  /**
   * The integration a message for `phoneNumberId` belongs to, when it came in on `via`'s webhook. Meta sends one
   * app's webhooks for all its numbers to one Callback URL, so another connected number of the same app (same app
   * secret, same workspace) is routed to its own integration.
   */
  route(phoneNumberId: string, via: RelayIntegration): RelayIntegration | undefined {
    if (via.phoneNumberId === phoneNumberId) return via;
    for (const candidate of this.byId.values()) {
      if (
        candidate.phoneNumberId === phoneNumberId &&
        candidate.workspaceId === via.workspaceId &&
        candidate.appSecret === via.appSecret
      ) {
        return candidate;
      }
    }
    return undefined;
  }

  verifyTokenMatches(integration: RelayIntegration, token: string): boolean {
    return verifyTokenMatches(token, integration.verifyTokenHash);
  }
}
