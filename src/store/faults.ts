/**
 * Faults of the machine under the store — a full disk, an I/O error, a read-only or locked database, a PostgreSQL
 * server that cannot be reached — as opposed to bugs. The relay answers them with 503 (Meta retries) and keeps
 * running; the CLI says what happened.
 */
export interface SystemFault {
  code: 'disk_full' | 'disk_io_error' | 'database_read_only' | 'database_busy' | 'database_unavailable';
  message: string;
  hint: string;
}

/** The fault behind an error from better-sqlite3, PostgreSQL or the file system, or undefined when it is not one. */
export function describeSystemFault(error: unknown): SystemFault | undefined {
  const code = String((error as { code?: unknown } | null)?.code ?? '');
  if (code === 'database_unavailable') {
    // Already one line (src/store/pg/db.ts asPgError, or SQLite's cannot-open), with the password left out.
    const hint = (error as { hint?: unknown }).hint;
    return {
      code: 'database_unavailable',
      message: (error as Error).message,
      hint: typeof hint === 'string' ? hint : 'Check the database server and the network to it; lumen retries by itself.',
    };
  }
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') {
    return {
      code: 'disk_full',
      message: 'The disk holding LUMEN_HOME is full: lumen could not write to its database.',
      hint: 'Free some space (nothing already stored was lost), then try again.',
    };
  }
  if (code.startsWith('SQLITE_IOERR') || code === 'EIO') {
    return {
      code: 'disk_io_error',
      message: 'The disk holding LUMEN_HOME failed to read or write (I/O error).',
      hint: 'Check the disk (dmesg, df); then try again.',
    };
  }
  if (code.startsWith('SQLITE_READONLY') || code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
    return {
      code: 'database_read_only',
      message: 'The database in LUMEN_HOME cannot be written (read-only file system or no permission).',
      hint: 'Check the folder\'s permissions and mount, or set LUMEN_HOME to a writable folder.',
    };
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return {
      code: 'database_busy',
      message: 'The database in LUMEN_HOME stayed locked by another lumen process.',
      hint: 'Try again in a moment.',
    };
  }
  return undefined;
}

/** True for a fault that a later retry may get past (everything describeSystemFault knows). */
export function isSystemFault(error: unknown): boolean {
  return describeSystemFault(error) !== undefined;
}
