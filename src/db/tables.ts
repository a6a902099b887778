import type { AgentTables } from '../agents/agents.tables.js';
import type { AuthTables } from '../auth/auth.tables.js';
import type { CapabilityTables } from '../capabilities/capabilities.tables.js';
import type { ChatTables } from '../chat/chat.tables.js';
import type { LlmTables } from '../llm/llm.tables.js';
import type { MemoryTables } from '../memory/memory.tables.js';
import type { TargetTables } from '../targets/targets.tables.js';
import type { WorkflowTables } from '../workflows/workflows.tables.js';

/** Every table Clarion owns. Each domain declares its rows in `<domain>.tables.ts` and is added here. */
export interface Tables
  extends AuthTables, AgentTables, TargetTables, CapabilityTables, LlmTables, WorkflowTables, MemoryTables, ChatTables {
  clarion_migrations: { name: string; applied_at: string };
}
