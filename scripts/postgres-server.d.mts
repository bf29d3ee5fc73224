// Types of postgres-server.mjs for the TypeScript tests (test/global-postgres.ts).
export interface PostgresServer {
  /** The superuser's URL (database "postgres"). */
  url: string;
  port: number;
  dir: string;
  /** Stops the server at once (as a crash or a pulled cable would); the data stays. */
  stop(): void;
  /** Starts it again on the same port and data (nothing when it runs). */
  start(): void;
  /** Stops it and removes its folder. */
  remove(): void;
  skip?: undefined;
}
export function findPostgresBinDir(env?: NodeJS.ProcessEnv): string | null;
export function startPostgresServer(options?: { settings?: Record<string, string> }): Promise<PostgresServer | { skip: string; url?: undefined }>;
