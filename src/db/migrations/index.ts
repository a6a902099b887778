import type { Migration } from '../migration.js';
import * as m0001 from './0001_auth.js';
import * as m0002 from './0002_agents_targets_capabilities.js';
import * as m0003 from './0003_llm.js';
import * as m0004 from './0004_workflows_runs.js';
import * as m0005 from './0005_memory.js';
import * as m0006 from './0006_chat.js';
import * as m0007 from './0007_budget_subjects.js';

/** Every migration in the order it applies. Add new ones at the end; never edit a released one. */
export const migrations: readonly Migration[] = [m0001, m0002, m0003, m0004, m0005, m0006, m0007];
