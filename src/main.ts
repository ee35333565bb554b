import { fileURLToPath } from 'node:url';
import { loadConfig, type Config } from './config.js';
import { createLogger, type Logger } from './log.js';
import { DockerDriver } from './runtime/docker/docker-driver.js';
import type { RuntimeDriver } from './runtime/driver.js';
import { SandboxManager } from './sandbox/sandbox-manager.js';
import type { SandboxStore } from './sandbox/sandbox-store.js';
import { SqliteSandboxStore } from './store/sqlite-sandbox-store.js';

/** The sandbox image's build context, shipped beside dist/. */
export const DOCKER_CONTEXT_DIR = fileURLToPath(new URL('../docker', import.meta.url));

export interface Berth {
  config: Config;
  logger: Logger;
  store: SandboxStore;
  driver: RuntimeDriver;
  manager: SandboxManager;
  close(): void;
}

/** Composition root: config → logger, registry, Docker driver → manager. */
export function createBerth(options: { config?: Config; logger?: Logger; driver?: RuntimeDriver; store?: SandboxStore } = {}): Berth {
  const config = options.config ?? loadConfig();
  const logger = options.logger ?? createLogger(config.logLevel);
  const store = options.store ?? new SqliteSandboxStore(config.dbPath);
  const driver = options.driver ?? new DockerDriver();
  const manager = new SandboxManager({ store, driver, config, logger });
  return {
    config,
    logger,
    store,
    driver,
    manager,
    close: () => {
      manager.close();
      store.close();
    },
  };
}
