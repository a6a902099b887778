import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from './run-command.js';

function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  // A zombie waiting for its reaper is dead too.
  try {
    return /State:\s+Z/.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

describe('runCommand', () => {
  let cwd: string;
  beforeAll(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'run-command-'));
  });
  afterAll(() => fs.rmSync(cwd, { recursive: true, force: true }));
  const base = () => ({ cwd, timeoutMs: 5000, maxOutputBytes: 10_000 });

  it('runs an allowed program with literal arguments, no shell', async () => {
    const marker = path.join(cwd, 'pwned');
    const res = await runCommand(['echo', `a; touch ${marker}`, '$(id)', '`id`', '|', '&&', '>x'], {
      ...base(),
      allowedPrograms: ['echo'],
    });
    expect(res.exitCode).toBe(0);
    expect(res.stdout).toBe(`a; touch ${marker} $(id) \`id\` | && >x\n`);
    expect(fs.existsSync(marker)).toBe(false);
    expect(fs.existsSync(path.join(cwd, 'x'))).toBe(false);
  });

  it.each([[['rm', '-rf', '/']], [['/bin/echo', 'hi']], [['./echo']], [['']], [['sh', '-c', 'echo hi']]])(
    'refuses %j outside the allowlist before spawning',
    async (argv) => {
      await expect(runCommand(argv, { ...base(), allowedPrograms: ['echo'] })).rejects.toMatchObject({
        code: 'PROGRAM_NOT_ALLOWED',
      });
    },
  );

  it('passes a clean environment: PATH and the given variables only', async () => {
    process.env.CLARION_TEST_LEAK = 'leaked';
    try {
      const res = await runCommand(['env'], { ...base(), allowedPrograms: ['env'], env: { GREETING: 'hi' } });
      const names = res.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('=')[0]);
      expect(names.sort()).toEqual(['GREETING', 'PATH']);
    } finally {
      delete process.env.CLARION_TEST_LEAK;
    }
  });

  it('reports exit codes, stdin and a missing program', async () => {
    const res = await runCommand(['cat'], { ...base(), allowedPrograms: ['cat'], stdin: 'from stdin' });
    expect(res.stdout).toBe('from stdin');
    const fail = await runCommand(['ls', 'no-such-file'], { ...base(), allowedPrograms: ['ls'] });
    expect(fail.exitCode).not.toBe(0);
    expect(fail.stderr).toMatch(/no-such-file/);
    await expect(
      runCommand(['clarion-no-such-program'], { ...base(), allowedPrograms: ['clarion-no-such-program'] }),
    ).rejects.toMatchObject({ code: 'PROGRAM_NOT_FOUND' });
    await expect(
      runCommand(['ls'], { ...base(), cwd: path.join(cwd, 'missing'), allowedPrograms: ['ls'] }),
    ).rejects.toMatchObject({ code: 'PROGRAM_NOT_FOUND', message: expect.stringContaining('working folder') });
  });

  it('kills the whole process group on timeout', async () => {
    const res = await runCommand(['sh', '-c', 'sleep 30 & echo $!; wait'], {
      ...base(),
      allowedPrograms: ['sh'],
      timeoutMs: 300,
    });
    expect(res.timedOut).toBe(true);
    expect(res.signal).toBe('SIGKILL');
    const sleepPid = Number(res.stdout.trim());
    expect(sleepPid).toBeGreaterThan(0);
    for (let i = 0; i < 50 && !isGone(sleepPid); i++) await new Promise((r) => setTimeout(r, 20));
    expect(isGone(sleepPid)).toBe(true);
  });

  it('kills the group on abort and leaves no background child after exit', async () => {
    const ac = new AbortController();
    const p = runCommand(['sleep', '30'], { ...base(), allowedPrograms: ['sleep'], signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await expect(p).rejects.toMatchObject({ code: 'OUTBOUND_FAILED' });

    const bg = await runCommand(['sh', '-c', 'sleep 30 >/dev/null 2>&1 & echo $!'], {
      ...base(),
      allowedPrograms: ['sh'],
    });
    const pid = Number(bg.stdout.trim());
    for (let i = 0; i < 50 && !isGone(pid); i++) await new Promise((r) => setTimeout(r, 20));
    expect(isGone(pid)).toBe(true);
  });

  it('caps the output', async () => {
    const res = await runCommand(['head', '-c', '100000', '/dev/zero'], {
      ...base(),
      allowedPrograms: ['head'],
      maxOutputBytes: 1000,
    });
    expect(res.truncated).toBe(true);
    expect(res.stdout.length).toBe(1000);
  });
});
