import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where lumen keeps its state. `LUMEN_HOME` puts everything in one folder (tests, demos, containers). */
export interface Paths {
  /** Folder holding `lumen.db` and the encrypted secrets file. */
  dataDir: string;
  /** Folder holding `config.json`. */
  configDir: string;
  database: string;
  configFile: string;
  secretsFile: string;
  secretsKeyFile: string;
}

export function resolvePaths(env: NodeJS.ProcessEnv): Paths {
  const home = env.LUMEN_HOME?.trim();
  let dataDir: string;
  let configDir: string;
  if (home) {
    dataDir = home;
    configDir = home;
  } else {
    const userHome = env.HOME ?? homedir();
    dataDir = join(env.XDG_DATA_HOME?.trim() || join(userHome, '.local', 'share'), 'lumen');
    configDir = join(env.XDG_CONFIG_HOME?.trim() || join(userHome, '.config'), 'lumen');
  }
  return {
    dataDir,
    configDir,
    database: join(dataDir, 'lumen.db'),
    configFile: join(configDir, 'config.json'),
    secretsFile: join(dataDir, 'secrets.enc.json'),
    secretsKeyFile: join(dataDir, 'secrets.key'),
  };
}
