import { basename, join, resolve } from 'node:path';

/**
 * Where a received file is on this machine. lumen keeps each one in LUMEN_HOME/media, named by its hash; a record
 * names the path it was stored at, which is elsewhere once LUMEN_HOME has moved (a backup restored on another
 * machine) or when another host stored it (a shared database). The name finds it here, and never outside the folder.
 */
export function localMediaPath(mediaDir: string, storedPath: string): string {
  return join(resolve(mediaDir), basename(storedPath));
}
