import { randomUUID } from 'node:crypto';
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
import { fileError } from './file-read.task.js';
import { targetOf } from './target-task-helpers.js';
import type { TaskDefinition } from './task.js';

const Input = Type.Object(
  {
    path: PathInput,
    content: Type.String({ maxLength: 32 * 1024 * 1024 }),
    encoding: EncodingInput,
    mode: Type.Optional(
      Type.Union([Type.Literal('overwrite'), Type.Literal('create'), Type.Literal('append')], {
        description: 'overwrite (default, atomic), create (fails when the file exists) or append',
      }),
    ),
    create_dirs: Type.Optional(Type.Boolean({ description: 'create missing parent folders (default false)' })),
    max_bytes: MaxBytesInput,
  },
  { additionalProperties: false },
);
const Output = Type.Object({ path: Type.String(), bytes_written: Type.Integer(), created: Type.Boolean() });
type Input = Static<typeof Input>;
type Output = Static<typeof Output>;

const exists = (p: string) =>
  fs.lstat(p).then(
    () => true,
    () => false,
  );

export const fileWriteTask: TaskDefinition<Input, Output> = {
  type: 'file.write',
  description:
    "Write (overwrite atomically, create, or append) a file inside a filesystem target's root; refused on a read-only target.",
  targetTypes: ['filesystem'],
  inputSchema: Input,
  outputSchema: Output,
  estimatedMs: 10,
  run: async (input, ctx) => {
    const target = await targetOf(ctx, 'filesystem');
    if (target.config.read_only) {
      throw new AppError('TARGET_READ_ONLY', `The target ${target.name} is read-only.`, { target: target.name });
    }
    const encoding = input.encoding ?? 'utf8';
    const data = Buffer.from(input.content, encoding);
    const maxBytes = input.max_bytes ?? FILE_DEFAULT_MAX_BYTES;
    if (data.length > maxBytes) {
      throw new AppError('FILE_TOO_LARGE', `The content is ${data.length} bytes; the limit is ${maxBytes}.`, {
        field: 'content',
        size: data.length,
        max_bytes: maxBytes,
      });
    }
    const root = await realRoot(target.config.root, fs.realpath);
    let real = await resolveInRoot(root, input.path, { forWrite: true });
    if (input.create_dirs) {
      // The parent is confined (resolved through its deepest existing real ancestor); re-resolve after creating it.
      await fs.mkdir(path.dirname(real), { recursive: true });
      real = await resolveInRoot(root, input.path, { forWrite: true });
    }
    ctx.signal.throwIfAborted();
    const mode = input.mode ?? 'overwrite';
    const existed = await exists(real);
    try {
      if (mode === 'overwrite') {
        if (existed && !(await fs.lstat(real)).isFile()) {
          throw new AppError('NOT_A_FILE', `${JSON.stringify(input.path)} is not a regular file.`, { field: 'path' });
        }
        // Write beside it, then rename: readers never see half a file, and a symlink swapped in
        // at the destination is replaced rather than followed.
        const tmp = path.join(path.dirname(real), `.${path.basename(real)}.${randomUUID()}.tmp`);
        try {
          await fs.writeFile(tmp, data, {
            flag: constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          });
          await fs.rename(tmp, real);
        } catch (err) {
          await fs.rm(tmp, { force: true });
          throw err;
        }
      } else {
        const flags =
          mode === 'create'
            ? constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW
            : constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW;
        const handle = await fs.open(real, flags, 0o644);
        try {
          if (!(await handle.stat()).isFile()) {
            throw new AppError('NOT_A_FILE', `${JSON.stringify(input.path)} is not a regular file.`, { field: 'path' });
          }
          await handle.writeFile(data);
        } finally {
          await handle.close();
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new AppError('FILE_EXISTS', `${JSON.stringify(input.path)} already exists.`, { field: 'path' });
      }
      throw fileError(err, input.path);
    }
    return { path: relativeTo(root, real, path.relative), bytes_written: data.length, created: !existed };
  },
};
