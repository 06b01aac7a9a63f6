/**
 * Sharded evaluation on one machine: `medrobust run --workers N --threads T` on the demo data (the demo
 * config's 256 test images per task, both tasks, FGSM and PGD-10 at ε = 1, 2, 4, 8 /255), after training
 * once. Layouts run interleaved `--repeats` times (shards removed before each run); it prints per layout the
 * median wall time of the whole command, the per-shard evaluation times (from the shard files), and the
 * scaling to N cores predicted from them, and checks that every run's merged results are equal bit for bit
 * (exit 1 otherwise). Never run by `npm test`.
 *
 *   npx tsx bench/shard.ts [--layouts 1x2,2x1,1x1] [--repeats 2] [--evaluations robustness] [--out /tmp/medrobust-bench-shard]
 *
 * Layout `WxT` is W worker processes with T backend threads each.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const repo = fileURLToPath(new URL('../', import.meta.url));
const out = arg('out', join(os.tmpdir(), 'medrobust-bench-shard'));
const repeats = Number(arg('repeats', '2'));
const evaluations = arg('evaluations', 'robustness');
const layouts = arg('layouts', '1x2,2x1,1x1').split(',').map((l) => {
  const [w, t] = l.split('x').map(Number);
  return { workers: w!, threads: t!, label: `${w} worker${w === 1 ? '' : 's'} × ${t} thread${t === 1 ? '' : 's'}` };
});
const config = join(out, 'bench-shard.json');
const shards = join(out, 'bench-shard', 'shards');
mkdirSync(out, { recursive: true });
writeFileSync(config, JSON.stringify({ name: 'bench-shard', backend: 'wasm' }));

const cli = (args: string[]): number => {
  const t0 = performance.now();
  execFileSync(process.execPath, ['--import', 'tsx', join(repo, 'src', 'cli', 'bin.ts'), ...args], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
  return (performance.now() - t0) / 1000;
};
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

console.error(`training the demo models once in ${out} ...`);
const trainSeconds = cli(['train', '--config', config, '--out', out, '--quiet']);
console.error(`trained in ${trainSeconds.toFixed(1)} s`);

interface Sample { wall: number; shards: number[]; evaluation: number[]; load: [number, number] }
/** The merged results of the last run, as text: equal text is equal numbers, bit for bit (NaN and −0 spelled out). */
const mergedText = (): string => JSON.stringify((JSON.parse(readFileSync(join(shards, 'merged.json'), 'utf8')) as { results: unknown }).results);
let reference: { label: string; text: string } | undefined;
const mismatches: string[] = [];
const samples = new Map<string, Sample[]>(layouts.map((l) => [l.label, []]));
for (let r = 0; r < repeats; r++) {
  for (const l of layouts) {
    rmSync(shards, { recursive: true, force: true });
    const load0 = os.loadavg()[0]!;
    const wall = cli(['run', '--config', config, '--out', out, '--workers', String(l.workers), '--threads', String(l.threads), '--evaluations', evaluations, '--quiet']);
    const files = readdirSync(shards).filter((f) => new RegExp(`^shard-\\d+-of-${l.workers}\\.json$`).test(f));
    const envs = files.map((f) => (JSON.parse(readFileSync(join(shards, f), 'utf8')) as { content: { environment: { seconds: number; evaluationSeconds: number } } }).content.environment);
    const shardSeconds = envs.map((e) => e.seconds);
    const text = mergedText();
    reference ??= { label: l.label, text };
    if (text !== reference.text) mismatches.push(`${l.label} (run ${r + 1})`);
    samples.get(l.label)!.push({ wall, shards: shardSeconds, evaluation: envs.map((e) => e.evaluationSeconds), load: [load0, os.loadavg()[0]!] });
    console.error(`${l.label}: ${wall.toFixed(1)} s wall, shards ${shardSeconds.map((s) => s.toFixed(1)).join(', ')} s, load ${load0.toFixed(1)} → ${os.loadavg()[0]!.toFixed(1)}`);
  }
}

const rows = layouts.map((l) => {
  const s = samples.get(l.label)!;
  return {
    layout: l,
    wall: median(s.map((x) => x.wall)),
    shard: median(s.map((x) => Math.max(...x.shards))),
    shardMean: median(s.map((x) => x.shards.reduce((a, b) => a + b, 0) / x.shards.length)),
    evaluation: median(s.map((x) => x.evaluation.reduce((a, b) => a + b, 0))),
    fixed: median(s.flatMap((x) => x.shards.map((t, i) => t - x.evaluation[i]!))),
    load: `${Math.min(...s.map((x) => x.load[0]))}–${Math.max(...s.map((x) => x.load[1]))}`,
  };
});
console.log(`\nDemo data, evaluations: ${evaluations}; ${os.cpus().length} cores (${os.cpus()[0]?.model}); training ${trainSeconds.toFixed(1)} s (once, not in the times below); medians of ${repeats} interleaved runs.\n`);
console.log('| layout | wall (whole command) | slowest shard | evaluation time, all shards | load average during the runs |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.layout.label} | ${r.wall.toFixed(1)} s | ${r.shard.toFixed(1)} s | ${r.evaluation.toFixed(1)} s | ${r.load.split('–').map((v) => Number(v).toFixed(1)).join('–')} |`);

// Scaling from per-shard times: a shard of N costs E/N (its evaluations, measured) + c (data, model:
// the rest of the shard's time, measured), and the command adds o (process start, training check, merge:
// wall − slowest shard). E from the single-threaded one-worker run.
const one = rows.find((r) => r.layout.workers === 1 && r.layout.threads === 1);
const two = rows.find((r) => r.layout.workers === 2 && r.layout.threads === 1);
if (one && two) {
  const work = one.evaluation;
  const c = median(rows.map((r) => r.fixed));
  const o = two.wall - two.shard;
  console.log(`\nMeasured: evaluation work E = ${work.toFixed(1)} s single-threaded (1 × 1); with 2 workers the two shards' evaluations sum to ${two.evaluation.toFixed(1)} s; fixed cost per shard c = ${c.toFixed(1)} s; command overhead o = ${o.toFixed(1)} s. Speed-up of 2 × 1 over 1 × 1: ${(one.wall / two.wall).toFixed(2)}×, over 1 × 2: ${((rows.find((r) => r.layout.workers === 1 && r.layout.threads === 2)?.wall ?? Number.NaN) / two.wall).toFixed(2)}×.`);
  console.log('\n| cores N (N workers × 1 thread) | predicted wall E/N + c + o | speed-up vs 1 | efficiency |');
  console.log('|---|---|---|---|');
  const wall1 = work + c + o;
  for (const n of [1, 2, 4, 8, 16, 32, 64]) {
    const w = work / n + c + o;
    console.log(`| ${n} | ${w.toFixed(1)} s | ${(wall1 / w).toFixed(2)}× | ${((100 * wall1) / (n * w)).toFixed(0)} % |`);
  }
}

console.log(mismatches.length === 0
  ? `\nMerged results: all ${repeats * layouts.length} runs equal bit for bit (${layouts.map((l) => l.label).join(', ')}).`
  : `\nMerged results DIFFER from ${reference!.label}'s in: ${mismatches.join(', ')}.`);
process.exitCode = mismatches.length === 0 ? 0 : 1;
