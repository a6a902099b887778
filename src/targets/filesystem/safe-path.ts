import fs from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../errors/index.js';

const outside = (userPath: string, why: string) =>
  new AppError(
    'PATH_OUTSIDE_ROOT',
    `The path ${JSON.stringify(userPath)} is outside the target's root folder (${why}).`,
    {
      field: 'path',
    },
  );

const isInside = (root: string, candidate: string) =>
  candidate === root || candidate.startsWith(root.endsWith(path.sep) ? root : root + path.sep);

/**
 * Resolves a user-given relative path inside `root` and returns its real absolute path.
 * Refuses absolute paths, any `..` segment, NUL bytes, and symlinks (anywhere along the path,
 * including a dangling last one) whose real target lies outside the root. A path that does not
 * exist yet is confined through the real path of its deepest existing ancestor, so a write cannot
 * escape through a symlinked folder. The root itself must exist.
 */
export async function resolveInRoot(
  root: string,
  userPath: string,
  opts: { forWrite?: boolean } = {},
): Promise<string> {
  if (userPath.includes('\0')) throw outside(userPath, 'it contains a NUL byte');
  if (path.isAbsolute(userPath) || /^[A-Za-z]:[\\/]/.test(userPath))
    throw outside(userPath, 'absolute paths are not allowed');
  const parts = userPath.split(/[\\/]+/).filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw outside(userPath, '".." is not allowed');

  const realRoot = await fs.realpath(root);
  // Fast path: an existing path's real path settles every symlink on the way at once.
  try {
    const real = await fs.realpath(path.join(realRoot, ...parts));
    if (!isInside(realRoot, real)) throw outside(userPath, 'a symbolic link points out of the root');
    if (opts.forWrite && real === realRoot) throw outside(userPath, 'the root folder itself cannot be written');
    return real;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  // Something is missing (or a link dangles): walk down, confining each existing part.
  let current = realRoot;
  for (let i = 0; i < parts.length; i++) {
    const next = path.join(current, parts[i]!);
    let stat;
    try {
      stat = await fs.lstat(next);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // `current` is real and inside the root; the rest does not exist yet and contains no `..`.
      return path.join(next, ...parts.slice(i + 1));
    }
    if (stat.isSymbolicLink()) {
      let real: string;
      try {
        real = await fs.realpath(next);
      } catch {
        // A dangling link: writing through it would create its target, wherever that is.
        throw outside(userPath, 'it goes through a symbolic link whose target does not exist');
      }
      if (!isInside(realRoot, real)) throw outside(userPath, 'a symbolic link points out of the root');
      current = real;
    } else {
      current = next;
    }
  }
  if (opts.forWrite && current === realRoot) throw outside(userPath, 'the root folder itself cannot be written');
  return current;
}

/** Whether `child` is `parent` or below it (both made absolute, not resolved through symlinks). */
export function isPathWithin(parent: string, child: string): boolean {
  return isInside(path.resolve(parent), path.resolve(child));
}
