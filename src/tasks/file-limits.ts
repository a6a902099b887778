import { Type } from 'typebox';
import { AppError } from '../errors/index.js';

/** Default and ceiling of the bytes a file step moves; a step may lower or raise it up to the ceiling. */
export const FILE_DEFAULT_MAX_BYTES = 1024 * 1024;
export const FILE_MAX_BYTES_CEILING = 16 * 1024 * 1024;

export const MaxBytesInput = Type.Optional(
  Type.Integer({
    minimum: 1,
    maximum: FILE_MAX_BYTES_CEILING,
    description: `largest file size in bytes (default ${FILE_DEFAULT_MAX_BYTES}, at most ${FILE_MAX_BYTES_CEILING})`,
  }),
);

export const PathInput = Type.String({
  minLength: 1,
  maxLength: 4096,
  description: "a path relative to the target's root",
});

export const EncodingInput = Type.Optional(
  Type.Union([Type.Literal('utf8'), Type.Literal('base64')], { description: 'utf8 (default) or base64' }),
);

/** The path as the step should see it: relative to the root, with forward slashes. */
export function relativeTo(root: string, real: string, rel: (from: string, to: string) => string): string {
  const r = rel(root, real).split('\\').join('/');
  return r === '' ? '.' : r;
}

/** The real path of a filesystem target's root; a missing root is named as such (it is the user's own config). */
export async function realRoot(root: string, realpath: (p: string) => Promise<string>): Promise<string> {
  try {
    return await realpath(root);
  } catch {
    throw new AppError('FILE_NOT_FOUND', "The target's root folder does not exist.", { field: 'target' });
  }
}
