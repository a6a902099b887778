import type { Command } from 'commander';
import { isRole, roleNames, type Role } from '../auth/permissions.js';
import type { App } from '../app.js';
import { AppError } from '../errors/index.js';
import { print, withApp } from './context.js';

function parseRole(role: string): Role {
  if (!isRole(role)) throw new Error(`role must be one of ${roleNames.join(', ')}`);
  return role;
}

export async function findUser(app: App, login: string) {
  const row = await app.services.users.findByLogin(login);
  if (!row) throw new AppError('USER_NOT_FOUND', `No user ${login}.`);
  return row;
}

export function registerUserCommands(program: Command): void {
  const user = program.command('user').description('manage users (works on the database directly)');

  user
    .command('create <username> <email>')
    .description('create a user; prints a generated password unless --password is given')
    .option('-r, --role <role>', `one of ${roleNames.join(', ')}`, 'viewer')
    .option('-p, --password <password>', 'initial password (otherwise generated)')
    .option('--json', 'print JSON')
    .action(
      async (
        username: string,
        email: string,
        opts: { role: string; password?: string; json?: boolean },
        cmd: Command,
      ) => {
        const role = parseRole(opts.role);
        await withApp(cmd, async (app) => {
          const { user: u, generatedPassword } = await app.services.users.create({
            username,
            email,
            password: opts.password,
            role,
          });
          print(
            opts.json
              ? { user: u, password: generatedPassword }
              : `created ${u.username} (${u.role})${generatedPassword ? `\npassword: ${generatedPassword}` : ''}`,
            !!opts.json,
          );
        });
      },
    );

  user
    .command('list')
    .description('list users')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) =>
      withApp(cmd, async (app) => {
        const all = [];
        let cursor: string | undefined;
        do {
          const page = await app.services.users.list({ limit: 500, cursor });
          all.push(...page.items);
          cursor = page.next_cursor ?? undefined;
        } while (cursor);
        print(
          opts.json
            ? all
            : all.map((u) => ({ username: u.username, email: u.email, role: u.role, disabled: u.disabled })),
          !!opts.json,
        );
      }),
    );

  user
    .command('reset-password <username>')
    .description('set a new password (generated unless --password); the user must change it at sign-in')
    .option('-p, --password <password>', 'the new password')
    .action(async (login: string, opts: { password?: string }, cmd: Command) =>
      withApp(cmd, async (app) => {
        const row = await findUser(app, login);
        const { password } = await app.services.users.resetPassword(row.id, opts.password);
        print(`password for ${row.username}: ${password}`, false);
      }),
    );

  user
    .command('set-role <username> <role>')
    .description(`change a user's role (${roleNames.join(', ')})`)
    .action(async (login: string, role: string, _opts: unknown, cmd: Command) => {
      const next = parseRole(role); // before opening the database: a typo fails at once
      await withApp(cmd, async (app) => {
        const row = await findUser(app, login);
        const u = await app.services.users.setRole(row.id, next);
        print(`${u.username} is now ${u.role}`, false);
      });
    });
}
