import { Type, type Static } from 'typebox';
import { Nullable, PageQuery, StrictObject, Timestamp } from '../http/schemas.js';
import { allPermissions, roleNames, type Permission, type Role } from './permissions.js';

export const RoleSchema = Type.Unsafe<Role>(Type.String({ enum: roleNames }));
export const PermissionSchema = Type.Unsafe<Permission>(Type.String({ enum: allPermissions }));

const Username = Type.String({ minLength: 3, maxLength: 64, pattern: '^[A-Za-z0-9_.@-]+$' });
const Email = Type.String({ minLength: 3, maxLength: 254, format: 'email' });
const Password = Type.String({ minLength: 8, maxLength: 256 });

export const User = Type.Object({
  id: Type.String(),
  username: Type.String(),
  email: Type.String(),
  role: RoleSchema,
  disabled: Type.Boolean(),
  must_change_password: Type.Boolean(),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type User = Static<typeof User>;

export const Me = Type.Object({
  user: User,
  permissions: Type.Array(Type.String()),
  via: Type.Union([Type.Literal('jwt'), Type.Literal('api_key')]),
});

export const RegisterBody = StrictObject({
  username: Username,
  email: Email,
  password: Password,
  role: Type.Optional(RoleSchema),
});
export type RegisterBody = Static<typeof RegisterBody>;

export const CreateUserBody = StrictObject({
  username: Username,
  email: Email,
  password: Type.Optional(Password),
  role: RoleSchema,
});

export const UpdateUserBody = StrictObject(
  {
    email: Type.Optional(Email),
    role: Type.Optional(RoleSchema),
    disabled: Type.Optional(Type.Boolean()),
  },
  { minProperties: 1 },
);
export type UpdateUserBody = Static<typeof UpdateUserBody>;

export const ResetPasswordBody = StrictObject({ password: Type.Optional(Password) });
export const ChangePasswordBody = StrictObject({
  current_password: Type.String({ maxLength: 256 }),
  new_password: Password,
});

export const LoginBody = StrictObject({
  username: Type.String({ minLength: 1, maxLength: 254 }),
  password: Type.String({ minLength: 1, maxLength: 256 }),
});

export const RefreshBody = StrictObject({ refresh_token: Type.String({ minLength: 1, maxLength: 200 }) });
export const LogoutBody = StrictObject({ refresh_token: Type.Optional(Type.String({ maxLength: 200 })) });

export const TokenPair = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'seconds until the access token expires' }),
  refresh_token: Type.String(),
  user: User,
});

export const UserListQuery = StrictObject({
  ...PageQuery,
  role: Type.Optional(RoleSchema),
  q: Type.Optional(Type.String({ maxLength: 100, description: 'username or email contains' })),
});

export const ApiKey = Type.Object({
  id: Type.String(),
  name: Type.String(),
  prefix: Type.String(),
  scopes: Nullable(Type.Array(Type.String())),
  expires_at: Nullable(Timestamp),
  last_used_at: Nullable(Timestamp),
  revoked_at: Nullable(Timestamp),
  created_at: Timestamp,
});
export type ApiKey = Static<typeof ApiKey>;

export const CreateApiKeyBody = StrictObject({
  name: Type.String({ minLength: 1, maxLength: 100 }),
  scopes: Type.Optional(Type.Array(PermissionSchema, { maxItems: 100, uniqueItems: true })),
  expires_in_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
});
export type CreateApiKeyBody = Static<typeof CreateApiKeyBody>;

export const CreatedApiKey = Type.Object({
  api_key: ApiKey,
  key: Type.String({ description: 'the key itself; shown only in this response' }),
});

export const RoleInfo = Type.Object({
  name: Type.String(),
  description: Type.String(),
  permissions: Type.Array(Type.String()),
});
