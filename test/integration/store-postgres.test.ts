import { describe, expect, it } from 'vitest';
import { migratePg, openPgDatabase, pgSchemaStatus, redactDatabaseUrl } from '../../src/store/pg/db.js';
import { freshDatabase, postgres } from '../helpers/postgres.js';

const { skip } = postgres();

describe.skipIf(!!skip)(skip ? `PostgreSQL database (${skip})` : 'PostgreSQL database', () => {
  it('migrates once when two hosts open a new database at the same moment', async () => {
    const database = await freshDatabase();
    try {
      const [a, b] = await Promise.all([openPgDatabase(database.url), openPgDatabase(database.url)]);
      const status = await pgSchemaStatus(a);
      expect(status.pending).toEqual([]);
      expect(status.applied.map((m) => m.version)).toEqual(status.applied.map((_, i) => i + 1));
      expect(await migratePg(b)).toEqual([]);
      await Promise.all([a.close(), b.close()]);
    } finally {
      await database.drop();
    }
  });

  it('says in one line that nothing listens at a refused address, without the password', async () => {
    const url = 'postgres://lumen:hunter2@127.0.0.1:1/lumen';
    await expect(openPgDatabase(url)).rejects.toMatchObject({
      code: 'database_unavailable',
      message: expect.stringContaining('connection refused'),
    });
    await expect(openPgDatabase(url)).rejects.not.toMatchObject({ message: expect.stringContaining('hunter2') });
    expect(redactDatabaseUrl(url)).toBe('postgres://lumen:***@127.0.0.1:1/lumen');
  });

  it('hides a password given as a URL parameter too (libpq\'s ?password=, ?sslpassword=)', async () => {
    const url = 'postgres://127.0.0.1:1/lumen?user=lumen&password=hunter3&sslpassword=hunter4';
    const refused = await openPgDatabase(url).catch((error: Error) => error);
    expect(refused).toMatchObject({ code: 'database_unavailable', message: expect.stringContaining('password=***') });
    expect((refused as Error).message).not.toMatch(/hunter[34]/);
    expect(redactDatabaseUrl(url)).toBe('postgres://127.0.0.1:1/lumen?user=lumen&password=***&sslpassword=***');
  });

  it('names a database that does not exist', async () => {
    const url = new URL(postgres().url!);
    url.pathname = '/lumen_missing_db';
    await expect(openPgDatabase(url.toString())).rejects.toMatchObject({ code: 'database_not_found' });
  });
});
