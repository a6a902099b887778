import fs from 'node:fs';
import type { Command } from 'commander';
import type { App } from '../app.js';
import type { Principal } from '../auth/principal.js';
import { createApp } from '../app.js';
import { AppError } from '../errors/index.js';
import { createLogger } from '../logger.js';
import { configFrom, print, withApp } from './context.js';
import { findUser } from './user.command.js';

/** The CLI acts for one user (default: the configured admin), directly on the database. */
export async function actingUser(app: App, login: string | undefined): Promise<Principal> {
  const row = await findUser(app, login ?? app.config.admin_username);
  return {
    userId: row.id,
    username: row.username,
    role: row.role as Principal['role'],
    permissions: new Set(),
    via: 'jwt',
    mustChangePassword: false,
  };
}

function parseInputs(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new Error(`--input takes key=value, got ${p}`);
    const raw = p.slice(i + 1);
    // Values that parse as JSON (numbers, booleans, objects) keep their type; anything else is text.
    try {
      out[p.slice(0, i)] = JSON.parse(raw) as unknown;
    } catch {
      out[p.slice(0, i)] = raw;
    }
  }
  return out;
}

/** Prints each event of a run as it is stored, until the run ends. */
export async function watchRun(app: App, userId: string, runId: string): Promise<string> {
  let after = 0;
  const started = new Map<string, number>();
  for (;;) {
    for (const e of await app.services.runs.events(userId, runId, after)) {
      after = e.seq;
      const at = Date.parse(e.at);
      const step = e.step ?? '';
      if (e.type === 'step.started') started.set(step, at);
      const took = started.has(step) && e.type !== 'step.started' ? ` (${at - started.get(step)!} ms)` : '';
      const err = (e.data as { error?: { code?: string; message?: string } }).error;
      process.stdout.write(
        `${e.at.slice(11, 23)}  ${e.type.padEnd(16)} ${step}${took}${err ? `  ${err.code}: ${err.message}` : ''}\n`,
      );
      if (['run.completed', 'run.failed', 'run.cancelled'].includes(e.type)) return e.type.slice(4);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function registerWorkflowCommands(program: Command): void {
  const wf = program
    .command('workflow')
    .description('validate, list, push and run workflows (works on the database directly)');

  wf.command('validate <file>')
    .description('check a workflow file; prints each problem with its line and column')
    .option('-u, --user <username>', 'whose capabilities steps may use (default: the admin)')
    .action(async (file: string, o: { user?: string }, cmd: Command) =>
      withApp(cmd, async (app) => {
        const p = await actingUser(app, o.user);
        const r = await app.services.workflows.validate({ source: fs.readFileSync(file, 'utf8') }, p.userId);
        if (r.ok) return print(`${file}: valid (${r.definition.steps.length} steps)`, false);
        for (const i of r.issues) {
          process.stderr.write(
            `${file}:${i.line ?? 0}:${i.column ?? 0}: ${i.step ? `step ${i.step}: ` : ''}${i.message} (${i.path || '/'})\n`,
          );
        }
        process.exitCode = 1;
      }),
    );

  wf.command('list')
    .description('list workflows')
    .option('-u, --user <username>', 'act as this user (default: the admin)')
    .option('--json', 'print JSON')
    .action(async (o: { user?: string; json?: boolean }, cmd: Command) =>
      withApp(cmd, async (app) => {
        const p = await actingUser(app, o.user);
        const page = await app.services.workflows.list(p.userId, { limit: 1000 });
        print(
          o.json
            ? page.items
            : page.items.map((w) => ({ name: w.name, version: w.version, updated: w.updated_at, id: w.id })),
          !!o.json,
        );
      }),
    );

  wf.command('push <file>')
    .description('create the workflow, or save a new version of the one with the same name')
    .option('-u, --user <username>', 'act as this user (default: the admin)')
    .action(async (file: string, o: { user?: string }, cmd: Command) =>
      withApp(cmd, async (app) => {
        const p = await actingUser(app, o.user);
        const source = fs.readFileSync(file, 'utf8');
        const r = await app.services.workflows.validate({ source }, p.userId);
        if (!r.ok)
          throw new AppError(
            'WORKFLOW_INVALID',
            `${file}: ${r.issues.map((i) => `${i.line ?? 0}:${i.column ?? 0} ${i.message}`).join('; ')}`,
          );
        let w;
        try {
          w = await app.services.workflows.update(p, r.definition.name, { source });
        } catch (err) {
          if ((err as AppError).code !== 'WORKFLOW_NOT_FOUND') throw err;
          w = await app.services.workflows.create(p, { source });
        }
        print(`${w.name} version ${w.version} (${w.id})`, false);
      }),
    );

  wf.command('run <name>')
    .description('start a run; with --watch, follow its steps until it ends (runs an executor in this process too)')
    .option('-i, --input <key=value...>', 'an input (repeatable); JSON values keep their type', [])
    .option('-w, --watch', 'show steps as they start, finish and fail, with durations')
    .option('-u, --user <username>', 'act as this user (default: the admin)')
    .action(async (name: string, o: { input: string[]; watch?: boolean; user?: string }, cmd: Command) => {
      const config = configFrom(cmd);
      // An executor here makes `run --watch` work without a server; with one running, whichever claims the run first runs it.
      const app = await createApp(config, {
        logger: createLogger({ ...config, log_level: 'warn', log_pretty: false }),
        startEngine: !!o.watch,
      });
      try {
        const p = await actingUser(app, o.user);
        const { run } = await app.services.runs.start(p.userId, name, {
          inputs: parseInputs(o.input),
          trigger: 'manual',
        });
        process.stdout.write(`run ${run.id} queued\n`);
        if (!o.watch) return;
        const end = await watchRun(app, p.userId, run.id);
        const detail = await app.services.runs.get(p.userId, run.id);
        process.stdout.write(`${end}${detail.outputs ? `: ${JSON.stringify(detail.outputs)}` : ''}\n`);
        if (end !== 'completed') process.exitCode = 1;
      } finally {
        await app.stop();
      }
    });
}
