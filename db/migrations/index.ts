// Migrations are listed here statically rather than discovered on disk, so the same list works when
// run from TypeScript sources (tests) and from the compiled dist/ (production).
import type { Knex } from 'knex';
import * as init from './20261127_001_init.js';
import * as cronMisfire from './20261130_002_cron_misfire.js';
import * as stayUp from './20261130_003_stay_up.js';
import * as graphs from './20261130_004_graphs_and_data.js';
import * as controlFlow from './20261205_005_control_flow.js';
import * as externalWorkers from './20261205_006_external_workers.js';
import * as priority from './20261205_010_priority.js';
import * as flowLimits from './20261205_011_flow_limits.js';

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

const migrations: Record<string, Migration> = {
  '20261127_001_init': init,
  '20261130_002_cron_misfire': cronMisfire,
  '20261130_003_stay_up': stayUp,
  '20261130_004_graphs_and_data': graphs,
  '20261205_005_control_flow': controlFlow,
  '20261205_006_external_workers': externalWorkers,
  '20261205_010_priority': priority,
  '20261205_011_flow_limits': flowLimits,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name],
};
