import type { TaskDefinition } from './task.js';

/** The task types the engine can run. Built-ins and plugins register the same way. */
export class TaskRegistry {
  private readonly tasks = new Map<string, TaskDefinition>();

  register(task: TaskDefinition): this {
    if (!/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/.test(task.type)) throw new Error(`bad task type name: ${task.type}`);
    if (this.tasks.has(task.type)) throw new Error(`task type ${task.type} is already registered`);
    this.tasks.set(task.type, task);
    return this;
  }

  get(type: string): TaskDefinition | undefined {
    return this.tasks.get(type);
  }

  has(type: string): boolean {
    return this.tasks.has(type);
  }

  list(): TaskDefinition[] {
    return [...this.tasks.values()].sort((a, b) => a.type.localeCompare(b.type));
  }
}
