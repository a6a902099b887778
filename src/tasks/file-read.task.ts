import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Type, type Static } from 'typebox';
import { AppError } from '../errors/index.js';
import { resolveInRoot } from '../targets/filesystem/safe-path.js';
import {
  EncodingInput,
  FILE_DEFAULT_MAX_BYTES,
  MaxBytesInput,
  PathInput,
  realRoot,
  relativeTo,
} from './file-limits.js';
import { targetOf } from './target-task-helpers.js';
import type { TaskDefinition } from './task.js';

const Input = Type.Object(
  { path: PathInput, encoding: EncodingInput, max_bytes: MaxBytesInput },
  { additionalProperties: false },
);
const Output = Type.Object({
  path: Type.String(),
  content: Type.String(),
  encoding: Type.String(),
  size: Type.Integer(),
  modified_at: Type.String(),
});
type Input = Static<typeof Input>;
type Output = Static<typeof Output>;

/** Opens a confined path without following a symlink swapped in after the check, and reads it capped. */
export async function readConfined(
  root: string,
  userPath: string,
  maxBytes: number,
): Promise<{ real: string; data: Buffer; mtime: Date }> {
  const real = await resolveInRoot(root, userPath);
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    throw fileError(err, userPath);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile())
      throw new AppError('NOT_A_FILE', `${JSON.stringify(userPath)} is not a regular file.`, { field: 'path' });
    if (st.size > maxBytes) {
      throw new AppError(
        'FILE_TOO_LARGE',
        `${JSON.stringify(userPath)} is ${st.size} bytes; the limit is ${maxBytes}.`,
        {
          field: 'path',
          size: st.size,
          max_bytes: maxBytes,
        },
      );
    }
    // Read one byte past the limit: a file growing after the stat is still refused.
    const buf = Buffer.alloc(Math.min(maxBytes + 1, st.size + 1));
    let read = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, read, buf.length - read, read);
      if (bytesRead === 0) break;
      read += bytesRead;
      if (read === buf.length) break;
    }
    if (read > maxBytes) {
      throw new AppError('FILE_TOO_LARGE', `${JSON.stringify(userPath)} is larger than ${maxBytes} bytes.`, {
        field: 'path',
        max_bytes: maxBytes,
      });
    }
    return { real, data: buf.subarray(0, read), mtime: st.mtime };
  } finally {
    await handle.close();
  }
}

/** Maps a filesystem error to a stable code without the host's absolute path. */
export function fileError(err: unknown, userPath: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT')
    return new AppError('FILE_NOT_FOUND', `${JSON.stringify(userPath)} does not exist.`, { field: 'path' });
  if (code === 'ELOOP') {
    return new AppError('PATH_OUTSIDE_ROOT', `${JSON.stringify(userPath)} is a symbolic link.`, { field: 'path' });
  }
  if (code === 'EISDIR' || code === 'ENOTDIR') {
    return new AppError('NOT_A_FILE', `${JSON.stringify(userPath)} is not a regular file.`, { field: 'path' });
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new AppError('FILE_ACCESS_DENIED', `${JSON.stringify(userPath)} cannot be accessed.`, { field: 'path' });
  }
  return err;
}

export const fileReadTask: TaskDefinition<Input, Output> = {
  type: 'file.read',
  description: "Read a file inside a filesystem target's root (size-capped; utf8 or base64).",
  targetTypes: ['filesystem'],
  inputSchema: Input,
  outputSchema: Output,
  estimatedMs: 5,
  run: async (input, ctx) => {
    const target = await targetOf(ctx, 'filesystem');
    const encoding = input.encoding ?? 'utf8';
    const root = await realRoot(target.config.root, fs.realpath);
    const { real, data, mtime } = await readConfined(root, input.path, input.max_bytes ?? FILE_DEFAULT_MAX_BYTES);
    ctx.signal.throwIfAborted();
    return {
      path: relativeTo(root, real, path.relative),
      content: data.toString(encoding),
      encoding,
      size: data.length,
      modified_at: mtime.toISOString(),
    };
  },
};
