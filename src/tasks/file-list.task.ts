import fs from 'node:fs/promises';
import path from 'node:path';
import { Type, type Static } from 'typebox';
import { AppError } from '../errors/index.js';
import { resolveInRoot } from '../targets/filesystem/safe-path.js';
import { realRoot, relativeTo } from './file-limits.js';
import { fileError } from './file-read.task.js';
import { targetOf } from './target-task-helpers.js';
import type { TaskDefinition } from './task.js';

const MAX_ENTRIES_CEILING = 10_000;

const Input = Type.Object(
  {
    path: Type.Optional(
      Type.String({ minLength: 1, maxLength: 4096, description: 'folder relative to the root (default ".")' }),
    ),
    recursive: Type.Optional(
      Type.Boolean({ description: 'descend into sub-folders (symbolic links are not followed)' }),
    ),
    max_depth: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 32, description: 'levels when recursive (default 8)' }),
    ),
    max_entries: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_ENTRIES_CEILING, description: 'default 1000' })),
    include_hidden: Type.Optional(Type.Boolean({ description: 'include names starting with "." (default false)' })),
  },
  { additionalProperties: false },
);
const Entry = Type.Object({
  path: Type.String(),
  name: Type.String(),
  type: Type.Union([Type.Literal('file'), Type.Literal('directory'), Type.Literal('symlink'), Type.Literal('other')]),
  size: Type.Integer(),
  modified_at: Type.String(),
});
const Output = Type.Object({ path: Type.String(), entries: Type.Array(Entry), truncated: Type.Boolean() });
type Input = Static<typeof Input>;
type Output = Static<typeof Output>;
type Entry = Static<typeof Entry>;

const kindOf = (st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): Entry['type'] =>
  st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'directory' : st.isFile() ? 'file' : 'other';

export const fileListTask: TaskDefinition<Input, Output> = {
  type: 'file.list',
  description:
    "List a folder inside a filesystem target's root (optionally recursive; symbolic links are listed, not followed).",
  targetTypes: ['filesystem'],
  inputSchema: Input,
  outputSchema: Output,
  estimatedMs: 10,
  run: async (input, ctx) => {
    const target = await targetOf(ctx, 'filesystem');
    const root = await realRoot(target.config.root, fs.realpath);
    const userPath = input.path ?? '.';
    const start = await resolveInRoot(root, userPath);
    const maxEntries = input.max_entries ?? 1000;
    const maxDepth = input.recursive ? (input.max_depth ?? 8) : 1;
    const entries: Entry[] = [];
    let truncated = false;
    // Breadth-first so a capped listing shows the top levels first; sorted for stable output.
    let level = [start];
    for (let depth = 0; depth < maxDepth && level.length > 0 && !truncated; depth++) {
      const next: string[] = [];
      for (const dir of level) {
        ctx.signal.throwIfAborted();
        let names: string[];
        try {
          names = (await fs.readdir(dir)).sort();
        } catch (err) {
          if (dir === start) {
            const code = (err as NodeJS.ErrnoException).code;
            if (code === 'ENOTDIR')
              throw new AppError('NOT_A_DIRECTORY', `${JSON.stringify(userPath)} is not a folder.`, { field: 'path' });
            throw fileError(err, userPath);
          }
          continue; // a sub-folder removed or unreadable meanwhile
        }
        for (const name of names) {
          if (!input.include_hidden && name.startsWith('.')) continue;
          if (entries.length >= maxEntries) {
            truncated = true;
            break;
          }
          const full = path.join(dir, name);
          let st;
          try {
            st = await fs.lstat(full);
          } catch {
            continue;
          }
          const type = kindOf(st);
          entries.push({
            path: relativeTo(root, full, path.relative),
            name,
            type,
            size: type === 'file' ? st.size : 0,
            modified_at: st.mtime.toISOString(),
          });
          if (type === 'directory') next.push(full);
        }
        if (truncated) break;
      }
      level = next;
    }
    return { path: relativeTo(root, start, path.relative), entries, truncated };
  },
};
