import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { Cron } from 'croner';
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import { fromJson, toJson } from '../db/json.js';
import { nowIso } from '../db/time.js';
import { AppError, invalid } from '../errors/index.js';
import type { RunService } from '../engine/run.service.js';
import type { SecretBox } from '../secrets/secret-box.js';
import type { WorkflowService } from './workflow.service.js';
import type { WorkflowTriggersTable } from './workflows.tables.js';

export interface Trigger {
  id: string;
  workflow_id: string;
  kind: 'schedule' | 'webhook';
  cron: string | null;
  timezone: string | null;
  /** Path of a webhook: POST /hooks/<token>. */
  hook_path: string | null;
  signed: boolean;
  inputs: Record<string, unknown>;
  enabled: boolean;
  next_run_at: string | null;
  last_run_at: string | null;
  created_at: string;
}

export interface CreateTrigger {
  kind: 'schedule' | 'webhook';
  cron?: string | undefined;
  timezone?: string | undefined;
  /** HMAC-SHA256 key a webhook sender signs the body with (`X-Clarion-Signature: sha256=<hex>`). */
  secret?: string | undefined;
  inputs?: Record<string, unknown> | undefined;
}

function nextRun(cron: string, timezone: string | null, after: Date): Date | null {
  return new Cron(cron, { timezone: timezone ?? 'UTC', paused: true }).nextRun(after);
}

/**
 * Schedules and webhooks that start runs. A schedule is claimed by moving its `next_run_at` forward
 * in one conditional UPDATE, so with several workers each firing starts exactly one run (and the run's
 * idempotency key `schedule:<id>:<time>` would catch a second one anyway).
 */
export class TriggerService {
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;

  constructor(
    private readonly db: Db,
    private readonly workflows: WorkflowService,
    private readonly runs: RunService,
    private readonly secrets: SecretBox,
    private readonly logger: Logger,
  ) {}

  async create(userId: string, workflowRef: string, body: CreateTrigger): Promise<Trigger> {
    const wf = await this.workflows.find(userId, workflowRef);
    let next: string | null = null;
    if (body.kind === 'schedule') {
      if (!body.cron) throw invalid('cron', 'is required for a schedule');
      let at: Date | null;
      try {
        at = nextRun(body.cron, body.timezone ?? null, new Date());
      } catch (err) {
        throw invalid('cron', `is not a cron expression: ${(err as Error).message}`);
      }
      if (!at) throw invalid('cron', 'never fires');
      next = at.toISOString();
    }
    const row: WorkflowTriggersTable = {
      id: randomUUID(),
      user_id: userId,
      workflow_id: wf.id,
      kind: body.kind,
      cron: body.kind === 'schedule' ? body.cron! : null,
      timezone: body.kind === 'schedule' ? (body.timezone ?? 'UTC') : null,
      token: body.kind === 'webhook' ? randomBytes(24).toString('base64url') : null,
      secret: body.kind === 'webhook' && body.secret ? this.secrets.seal(body.secret) : null,
      inputs: toJson(body.inputs ?? {}),
      enabled: 1,
      next_run_at: next,
      last_run_at: null,
      created_at: nowIso(),
    };
    await this.db.insertInto('workflow_triggers').values(row).execute();
    return toTrigger(row);
  }

  async list(userId: string, workflowRef: string): Promise<Trigger[]> {
    const wf = await this.workflows.find(userId, workflowRef);
    const rows = await this.db
      .selectFrom('workflow_triggers')
      .selectAll()
      .where('user_id', '=', userId)
      .where('workflow_id', '=', wf.id)
      .orderBy('created_at')
      .execute();
    return rows.map(toTrigger);
  }

  async remove(userId: string, workflowRef: string, id: string): Promise<void> {
    const wf = await this.workflows.find(userId, workflowRef);
    const r = await this.db
      .deleteFrom('workflow_triggers')
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .where('workflow_id', '=', wf.id)
      .executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw new AppError('TRIGGER_NOT_FOUND');
  }

  /** A webhook call: checks the signature when the hook has a secret, then starts a run. */
  async fireHook(token: string, rawBody: Buffer, signature: string | undefined): Promise<string> {
    const hook = await this.db
      .selectFrom('workflow_triggers')
      .selectAll()
      .where('token', '=', token)
      .where('kind', '=', 'webhook')
      .where('enabled', '=', 1)
      .executeTakeFirst();
    if (!hook) throw new AppError('TRIGGER_NOT_FOUND');
    if (hook.secret) {
      const expected = `sha256=${createHmac('sha256', this.secrets.open(hook.secret)).update(rawBody).digest('hex')}`;
      const given = Buffer.from(signature ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, Buffer.from(expected))) {
        throw new AppError('HOOK_SIGNATURE_INVALID');
      }
    }
    let payload: unknown = null;
    if (rawBody.length > 0) {
      try {
        payload = JSON.parse(rawBody.toString('utf8')) as unknown;
      } catch {
        payload = rawBody.toString('utf8');
      }
    }
    const def = await this.workflows.definition(
      hook.workflow_id,
      (await this.workflows.find(hook.user_id, hook.workflow_id)).version,
    );
    // The body reaches the run as the `payload` input when the workflow declares one.
    const inputs = {
      ...fromJson<Record<string, unknown>>(hook.inputs, {}),
      ...(def.inputs?.payload ? { payload } : {}),
    };
    const { run } = await this.runs.start(hook.user_id, hook.workflow_id, { inputs, trigger: 'webhook' });
    await this.db.updateTable('workflow_triggers').set({ last_run_at: nowIso() }).where('id', '=', hook.id).execute();
    return run.id;
  }

  start(intervalMs = 1000): void {
    this.timer = setInterval(() => void this.tick(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Starts one run per due schedule; only the worker whose UPDATE moves `next_run_at` fires it. */
  async tick(now = new Date()): Promise<number> {
    if (this.ticking) return 0;
    this.ticking = true;
    let fired = 0;
    try {
      const due = await this.db
        .selectFrom('workflow_triggers')
        .selectAll()
        .where('kind', '=', 'schedule')
        .where('enabled', '=', 1)
        .where('next_run_at', '<=', now.toISOString())
        .limit(100)
        .execute();
      for (const t of due) {
        const at = t.next_run_at!;
        const next = nextRun(t.cron!, t.timezone, now);
        const claimed = await this.db
          .updateTable('workflow_triggers')
          .set({ next_run_at: next ? next.toISOString() : null, enabled: next ? 1 : 0, last_run_at: at })
          .where('id', '=', t.id)
          .where('next_run_at', '=', at)
          .executeTakeFirst();
        if (Number(claimed.numUpdatedRows) !== 1) continue;
        try {
          await this.runs.start(t.user_id, t.workflow_id, {
            inputs: fromJson(t.inputs, {}),
            idempotencyKey: `schedule:${t.id}:${at}`,
            trigger: 'schedule',
          });
          fired++;
        } catch (err) {
          this.logger.warn({ err, trigger: t.id }, 'scheduled run could not start');
        }
      }
    } catch (err) {
      this.logger.error({ err }, 'schedule tick failed');
    } finally {
      this.ticking = false;
    }
    return fired;
  }
}

function toTrigger(r: WorkflowTriggersTable): Trigger {
  return {
    id: r.id,
    workflow_id: r.workflow_id,
    kind: r.kind as Trigger['kind'],
    cron: r.cron,
    timezone: r.timezone,
    hook_path: r.token ? `/hooks/${r.token}` : null,
    signed: r.secret !== null,
    inputs: fromJson(r.inputs, {}),
    enabled: r.enabled === 1,
    next_run_at: r.next_run_at,
    last_run_at: r.last_run_at,
    created_at: r.created_at,
  };
}
