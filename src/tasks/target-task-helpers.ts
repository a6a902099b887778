import { AppError } from '../errors/index.js';
import { FatalTaskError } from '../engine/task-errors.js';
import type { ResolvedTarget } from '../targets/target.js';
import type { TaskContext } from './task.js';

/** What target tasks need from the targets module (TargetService implements it). */
export interface TargetResolver {
  resolveForRun(userId: string, ref: string): Promise<ResolvedTarget>;
  touch(id: string): Promise<void>;
}

/** The step's target, owned by the run's user and of the type the task acts on. */
export async function targetOf<T extends ResolvedTarget['type']>(
  ctx: TaskContext,
  type: T,
): Promise<Extract<ResolvedTarget, { type: T }>> {
  const targets = ctx.services.targets as TargetResolver | undefined;
  if (!targets) throw new FatalTaskError('Targets are not available in this process.');
  if (typeof ctx.target !== 'string') {
    throw new AppError('TARGET_REQUIRED', `This step needs "target:" naming a ${type} target.`);
  }
  const t = await targets.resolveForRun(ctx.userId, ctx.target);
  if (t.type !== type) {
    throw new AppError('TARGET_TYPE_MISMATCH', `Target ${t.name} is a ${t.type} target; this task needs ${type}.`);
  }
  void targets.touch(t.id).catch(() => {});
  return t as Extract<ResolvedTarget, { type: T }>;
}
