/** Where secrets live. The access token and app secret are stored only through this interface. */
export type SecretBackendKind = 'keychain' | 'file' | 'memory' | 'database';

export interface SecretStore {
  readonly kind: SecretBackendKind;
  /** Human description for status output, e.g. "OS keychain (Secret Service)" or the file path. */
  readonly description: string;
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
  /** Resolves true when something was deleted. */
  delete(key: string): Promise<boolean>;
  /** Lets go of what the store holds open (the database store's connections); the others have nothing to close. */
  close?(): Promise<void>;
}
