import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveInRoot } from './safe-path.js';

describe('resolveInRoot', () => {
  let base: string;
  let root: string;
  let outsideDir: string;
  beforeAll(() => {
    base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'safe-path-')));
    root = path.join(base, 'root');
    outsideDir = path.join(base, 'outside');
    fs.mkdirSync(path.join(root, 'docs'), { recursive: true });
    fs.mkdirSync(outsideDir);
    fs.writeFileSync(path.join(root, 'docs', 'a.txt'), 'a');
    fs.writeFileSync(path.join(outsideDir, 'secret.txt'), 's');
    fs.symlinkSync(outsideDir, path.join(root, 'escape-dir'));
    fs.symlinkSync(path.join(outsideDir, 'secret.txt'), path.join(root, 'escape-file'));
    fs.symlinkSync(path.join(outsideDir, 'not-yet.txt'), path.join(root, 'dangling'));
    fs.symlinkSync(path.join(root, 'docs'), path.join(root, 'inner-link'));
  });
  afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

  it('resolves paths inside the root to real paths', async () => {
    expect(await resolveInRoot(root, 'docs/a.txt')).toBe(path.join(root, 'docs', 'a.txt'));
    expect(await resolveInRoot(root, './docs//a.txt')).toBe(path.join(root, 'docs', 'a.txt'));
    expect(await resolveInRoot(root, 'inner-link/a.txt')).toBe(path.join(root, 'docs', 'a.txt'));
    expect(await resolveInRoot(root, 'docs/new/file.txt', { forWrite: true })).toBe(
      path.join(root, 'docs', 'new', 'file.txt'),
    );
  });

  it.each([
    ['../outside/secret.txt'],
    ['docs/../../outside/secret.txt'],
    ['docs/..'],
    ['..\\outside\\secret.txt'],
    ['/etc/passwd'],
    ['/tmp/outside/secret.txt'],
    ['C:\\Windows\\win.ini'],
    ['docs/a.txt\0.png'],
  ])('refuses %j', async (p) => {
    await expect(resolveInRoot(root, p)).rejects.toMatchObject({ code: 'PATH_OUTSIDE_ROOT' });
  });

  it('refuses symlinks out of the root, for reads and writes, existing or not', async () => {
    await expect(resolveInRoot(root, 'escape-file')).rejects.toMatchObject({ code: 'PATH_OUTSIDE_ROOT' });
    await expect(resolveInRoot(root, 'escape-dir/secret.txt')).rejects.toMatchObject({ code: 'PATH_OUTSIDE_ROOT' });
    await expect(resolveInRoot(root, 'escape-dir/new.txt', { forWrite: true })).rejects.toMatchObject({
      code: 'PATH_OUTSIDE_ROOT',
    });
    await expect(resolveInRoot(root, 'dangling', { forWrite: true })).rejects.toMatchObject({
      code: 'PATH_OUTSIDE_ROOT',
    });
  });

  it('works when the root itself is reached through a symlink', async () => {
    const linkedRoot = path.join(base, 'root-link');
    fs.symlinkSync(root, linkedRoot);
    expect(await resolveInRoot(linkedRoot, 'docs/a.txt')).toBe(path.join(root, 'docs', 'a.txt'));
    await expect(resolveInRoot(linkedRoot, 'escape-file')).rejects.toMatchObject({ code: 'PATH_OUTSIDE_ROOT' });
  });

  it('refuses writing the root itself', async () => {
    await expect(resolveInRoot(root, '.', { forWrite: true })).rejects.toMatchObject({ code: 'PATH_OUTSIDE_ROOT' });
    expect(await resolveInRoot(root, '.')).toBe(root);
  });
});
