// Entry point. `node dist/src/main.js` starts a member with the roles in ROLES;
// `node dist/src/main.js migrate` creates the database if needed, applies migrations and exits
// (the Procfile's release phase).
import { ConfigError, loadConfig } from '../config/index.js';
import { StartupError } from './errors.js';
import { createLogger } from './infra/logger.js';
import { prepareDatabase, startMember } from './member.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`configuration error: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  const log = createLogger(config.logLevel, {}, config.httpTaskSecretHeaders, undefined, config.logFormat);
  let member;
  try {
    if (process.argv[2] === 'migrate') {
      await prepareDatabase(config, log);
      log.info('database ready');
      return;
    }
    member = await startMember(config, log);
  } catch (e) {
    if (e instanceof StartupError) {
      console.error(`cannot start: ${e.message}`);
      process.exit(e.exitCode);
    }
    throw e;
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    try {
      await member.stop();
      log.info({ signal }, 'stopped');
      process.exit(0);
    } catch (e) {
      log.error({ err: e }, 'stop failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
