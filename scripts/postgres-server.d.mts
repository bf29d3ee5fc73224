// Types of postgres-server.mjs for the TypeScript tests (test/global-postgres.ts).
export function findPostgresBinDir(env?: NodeJS.ProcessEnv): string | null;
export function startPostgresServer(options?: { settings?: Record<string, string> }): Promise<
  { url: string; dir: string; stop(): void; skip?: undefined } | { skip: string; url?: undefined; stop?: undefined }
>;
