/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by package, so a benchmark
 * can say where a server spends its time.
 */
import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** Where a script lives, shortened to `pkg:file` for node_modules, `src/...` for our own, `node:` for core. */
function origin(url: string): string {
  if (!url) return '(native)';
  if (url.startsWith('node:')) return url;
  const clean = url.replace(/^file:\/\//, '');
  const nm = clean.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = clean.slice(nm + '/node_modules/'.length).split('/');
    const pkg = rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
    return `${pkg}:${rest.slice(rest[0]!.startsWith('@') ? 2 : 1).join('/')}`;
  }
  const dist = clean.indexOf('/dist/');
  return dist >= 0 ? clean.slice(dist + 1) : path.basename(clean);
}

function packageOf(url: string): string {
  const o = origin(url);
  if (o.startsWith('node:') || o.startsWith('(')) return o.startsWith('node:') ? 'node core' : o;
  if (o.startsWith('dist/')) return 'clarion (dist/)';
  return o.split(':')[0]!;
}

export interface ProfileSummary {
  totalMs: number;
  byFunction: { name: string; ms: number; share: number }[];
  byPackage: { name: string; ms: number; share: number }[];
}

/**
 * Self time by function and package. With `lastMs`, only the samples of the final `lastMs` milliseconds
 * count — the measured load, without start-up (module loading, schema compilation) or warm-up.
 */
export function summariseProfile(file: string, opts: { top?: number; lastMs?: number } = {}): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const hitsById = new Map<number, number>();
  let totalSamples = 0;
  let totalMs = (profile.endTime - profile.startTime) / 1000;
  if (opts.lastMs !== undefined && profile.samples && profile.timeDeltas) {
    const from = profile.endTime - opts.lastMs * 1000;
    let t = profile.startTime;
    for (let i = 0; i < profile.samples.length; i++) {
      t += profile.timeDeltas[i]!;
      if (t < from) continue;
      const id = profile.samples[i]!;
      hitsById.set(id, (hitsById.get(id) ?? 0) + 1);
      totalSamples += 1;
    }
    totalMs = Math.min(totalMs, opts.lastMs);
  } else {
    for (const node of profile.nodes) {
      if (node.hitCount) hitsById.set(node.id, node.hitCount);
      totalSamples += node.hitCount ?? 0;
    }
  }
  const msPerSample = totalSamples > 0 ? totalMs / totalSamples : 0;
  const fns = new Map<string, number>();
  const pkgs = new Map<string, number>();
  for (const node of profile.nodes) {
    const hits = hitsById.get(node.id) ?? 0;
    if (!hits) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = `${functionName || '(anonymous)'} ${origin(url)}${url ? `:${lineNumber + 1}` : ''}`;
    fns.set(name, (fns.get(name) ?? 0) + hits);
    const pkg = packageOf(url);
    pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + hits);
  }
  const rank = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, hits]) => ({ name, ms: hits * msPerSample, share: totalSamples ? hits / totalSamples : 0 }));
  return { totalMs, byFunction: rank(fns, opts.top ?? 20), byPackage: rank(pkgs, 15) };
}

export function printProfile(label: string, file: string, lastMs?: number): void {
  const s = summariseProfile(file, lastMs === undefined ? {} : { lastMs });
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
  console.log(
    `\nCPU profile of ${label} (${file}; ${lastMs === undefined ? 'whole run' : 'last'} ${Math.round(s.totalMs)} ms) — self time by package:`,
  );
  for (const p of s.byPackage) console.log(`  ${pct(p.share)}  ${p.name}`);
  console.log('self time by function:');
  for (const f of s.byFunction) console.log(`  ${pct(f.share)}  ${f.name}`);
}
