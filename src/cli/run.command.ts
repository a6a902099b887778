import type { Command } from 'commander';
import { print, withApp } from './context.js';
import { actingUser, watchRun } from './workflow.command.js';

export function registerRunCommands(program: Command): void {
  const run = program
    .command('run')
    .description('list, inspect, cancel and retry runs (works on the database directly)');

  run
    .command('list')
    .description('recent runs')
    .option('-u, --user <username>', 'act as this user (default: the admin)')
    .option('--workflow <name>', 'only this workflow')
    .option('--status <status>', 'queued, running, waiting, completed, failed or cancelled')
    .option('--json', 'print JSON')
    .action(async (o: { user?: string; workflow?: string; status?: string; json?: boolean }, cmd: Command) =>
      withApp(cmd, async (app) => {
        const p = await actingUser(app, o.user);
        const page = await app.services.runs.list(p.userId, { limit: 100, workflow: o.workflow, status: o.status });
        print(
          o.json
            ? page.items
            : page.items.map((r) => ({
                id: r.id,
                status: r.status,
                version: r.workflow_version,
                created: r.created_at,
                ms: r.duration_ms,
              })),
          !!o.json,
        );
      }),
    );

  run
    .command('show <id>')
    .description("a run's steps with their attempts, outputs and errors")
    .option('-u, --user <username>', 'act as this user (default: the admin)')
    .option('--json', 'print JSON')
    .option('-w, --watch', 'follow its events until it ends')
    .action(async (id: string, o: { user?: string; json?: boolean; watch?: boolean }, cmd: Command) =>
      withApp(cmd, async (app) => {
        const p = await actingUser(app, o.user);
        if (o.watch) await watchRun(app, p.userId, id);
        const r = await app.services.runs.get(p.userId, id);
        if (o.json) return print(r, true);
        process.stdout.write(`${r.id}  ${r.workflow_name ?? r.workflow_id} v${r.workflow_version}  ${r.status}\n`);
        print(
          r.steps.map((s) => ({
            step: s.key,
            status: s.status,
            attempts: s.attempts.length,
            ms: s.attempts.at(-1)?.duration_ms ?? null,
            error: s.error ? JSON.stringify(s.error).slice(0, 80) : '',
          })),
          false,
        );
        if (r.outputs) process.stdout.write(`outputs: ${JSON.stringify(r.outputs)}\n`);
      }),
    );

  for (const [name, what] of [
    ['cancel', 'cancel a run (running steps are aborted)'],
    ['retry', 'run a failed or cancelled run again from the steps that did not complete'],
  ] as const) {
    run
      .command(`${name} <id>`)
      .description(what)
      .option('-u, --user <username>', 'act as this user (default: the admin)')
      .action(async (id: string, o: { user?: string }, cmd: Command) =>
        withApp(cmd, async (app) => {
          const p = await actingUser(app, o.user);
          const r =
            name === 'cancel'
              ? await app.services.runs.cancel(p.userId, id)
              : await app.services.runs.retry(p.userId, id);
          print(`${r.id}: ${name === 'cancel' ? 'cancel requested' : 'queued again'}`, false);
        }),
      );
  }
}
