import { Type, type TProperties, type TSchema } from 'typebox';

/** An object schema that rejects unknown fields: every request body uses it. */
export const StrictObject = <P extends TProperties>(properties: P, options: Record<string, unknown> = {}) =>
  Type.Object(properties, { additionalProperties: false, ...options });

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const IdParams = StrictObject({ id: Type.String({ minLength: 1, maxLength: 100 }) });

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String(),
      message: Type.String(),
      details: Type.Optional(Type.Any()),
    }),
  },
  { $id: 'ErrorBody' },
);

/** Query of every list route: `limit` is capped by `max_page_size`; `cursor` comes from `next_cursor`. */
export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
  cursor: Type.Optional(Type.String({ maxLength: 500 })),
};

export const Page = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), next_cursor: Nullable(Type.String()) });

export const Timestamp = Type.String({ format: 'date-time' });
