import { verifyTokenMatches } from '../webhooks.js';

/** What the relay needs to know about one connected number. Holds the app secret: never log it. */
export interface RelayIntegration {
  id: string;
  workspaceId: string;
  workspaceName: string;
  label: string;
  phoneNumberId: string;
  /** The WhatsApp Business Account the number is in (template and account webhooks name it). */
  wabaId?: string | null;
  displayPhoneNumber: string | null;
  verifyTokenHash: string;
  appSecret: string;
}

/** A connected number whose secrets could not be read (a locked keychain): its deliveries get 503 until they can. */
export interface UnavailableIntegration {
  id: string;
  reason: string;
}

export interface DirectorySnapshot {
  ready: RelayIntegration[];
  unavailable: UnavailableIntegration[];
}

/** While some number's secrets are unreadable, they are tried again at most this often (a flood cannot hammer). */
const UNAVAILABLE_RETRY_MS = 1000;

/**
 * The connected numbers, kept in memory so the webhook path needs no query but one: `sync()` reads the store's
 * change marker (moved by every write to integrations, from any process) and reloads when it moved, so the next
 * request after a rotate-token, a re-connect or a disconnect already sees it. Nothing here decides what is true.
 */
export class IntegrationDirectory {
  private byId = new Map<string, RelayIntegration>();
  private unavailableById = new Map<string, string>();
  private marker: number | undefined;
  private loadedAt = 0;
  private loading: Promise<void> | undefined;

  constructor(
    private readonly loader: () => Promise<DirectorySnapshot>,
    private readonly changeMarker: () => Promise<number>,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Brings the directory up to date with the store (one cheap read when nothing changed). Throws when the store fails. */
  async sync(): Promise<void> {
    const marker = await this.changeMarker();
    const retryUnavailable = this.unavailableById.size > 0 && this.clock() - this.loadedAt >= UNAVAILABLE_RETRY_MS;
    if (marker === this.marker && !retryUnavailable) return;
    this.loading ??= this.load(marker).finally(() => {
      this.loading = undefined;
    });
    await this.loading;
  }

  private async load(marker: number): Promise<void> {
    const { ready, unavailable } = await this.loader();
    this.byId = new Map(ready.map((i) => [i.id, i]));
    this.unavailableById = new Map(unavailable.map((u) => [u.id, u.reason]));
    this.marker = marker;
    this.loadedAt = this.clock();
  }

  get(id: string): RelayIntegration | undefined {
    return this.byId.get(id);
  }

  /** Why a connected number cannot be served right now, if that is so. */
  unavailable(id: string): string | undefined {
    return this.unavailableById.get(id);
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

  /**
   * The integrations a WABA-level change (templates, account) that came in on `via`'s webhook is about: the numbers
   * of that WABA in via's workspace with the same app; `via` itself when its WABA is not known.
   */
  inAccount(wabaId: string, via: RelayIntegration): RelayIntegration[] {
    const found: RelayIntegration[] = [];
    for (const candidate of this.byId.values()) {
      const same = candidate.wabaId === undefined || candidate.wabaId === null ? candidate === via : candidate.wabaId === wabaId;
      if (same && candidate.workspaceId === via.workspaceId && candidate.appSecret === via.appSecret) found.push(candidate);
    }
    return found;
  }

  verifyTokenMatches(integration: RelayIntegration, token: string): boolean {
    return verifyTokenMatches(token, integration.verifyTokenHash);
  }
}
