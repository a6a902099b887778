import type { Command } from 'commander';
import { isPermission, type Permission } from '../auth/permissions.js';
import type { Principal } from '../auth/principal.js';
import { roleOf } from '../auth/user.mapper.js';
import type { App } from '../app.js';
import { print, withApp } from './context.js';
import { findUser } from './user.command.js';

async function principalFor(app: App, login: string): Promise<Principal> {
  const row = await findUser(app, login);
  const role = roleOf(row.role);
  return {
    userId: row.id,
    username: row.username,
    role,
    permissions: app.services.roles.permissionsOf(role),
    via: 'jwt',
    mustChangePassword: false,
  };
}

export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description("manage a user's API keys");

  token
    .command('create <username> <name>')
    .description('create an API key for a user and print it (shown once)')
    .option('-s, --scopes <list>', "comma-separated permissions (default: all of the user's)")
    .option('-d, --days <n>', 'expire after n days')
    .option('--json', 'print JSON')
    .action(
      async (login: string, name: string, opts: { scopes?: string; days?: string; json?: boolean }, cmd: Command) => {
        const scopes = opts.scopes
          ?.split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        const bad = scopes?.filter((s) => !isPermission(s));
        if (bad?.length) throw new Error(`unknown permission(s): ${bad.join(', ')}`);
        const days = opts.days === undefined ? undefined : Number(opts.days);
        if (days !== undefined && !(Number.isInteger(days) && days >= 1 && days <= 3650)) {
          throw new Error('--days must be a whole number from 1 to 3650');
        }
        await withApp(cmd, async (app) => {
          const created = await app.services.apiKeys.create(await principalFor(app, login), {
            name,
            ...(scopes ? { scopes: scopes as Permission[] } : {}),
            ...(days ? { expires_in_days: days } : {}),
          });
          print(opts.json ? created : created.key, !!opts.json);
        });
      },
    );

  token
    .command('list <username>')
    .description("list a user's API keys (prefixes only)")
    .option('--json', 'print JSON')
    .action(async (login: string, opts: { json?: boolean }, cmd: Command) =>
      withApp(cmd, async (app) => {
        const keys = await app.services.apiKeys.list(await principalFor(app, login));
        print(
          opts.json
            ? keys
            : keys.map((k) => ({
                id: k.id,
                name: k.name,
                prefix: k.prefix,
                revoked: !!k.revoked_at,
                last_used: k.last_used_at,
              })),
          !!opts.json,
        );
      }),
    );

  token
    .command('revoke <username> <id>')
    .description('revoke an API key by id')
    .action(async (login: string, id: string, _opts: unknown, cmd: Command) =>
      withApp(cmd, async (app) => {
        const k = await app.services.apiKeys.revoke(await principalFor(app, login), id);
        print(`revoked ${k.prefix}`, false);
      }),
    );
}
