/**
 * t-SNE benchmark (not part of npm test): `npx tsx bench/tsne/tsne.bench.mts [digits|large|scale|all] [options]`
 * (`all` = digits and large; scale runs only when asked for).
 * - digits: scikit-learn's digits (1797×64, test/fixtures/metrics/digits.json), our t-SNE (Barnes-Hut,
 *   which 'auto' picks at this size; `--method fft` for the FFT gradient) vs scikit-learn's TSNE (same
 *   defaults) run by /usr/bin/python3 in the same process tree, one after the other; both embeddings
 *   scored with scikit-learn's trustworthiness (k = 5).
 * - large: 20,000 points × 50 dims (10 Gaussian clusters, seeded), wall and CPU time.
 * - scale: medrobust FFT (method 'fft') vs medrobust Barnes-Hut vs scikit-learn's Barnes-Hut on the
 *   `large` data at several sizes, interleaved (each repeat runs the three one after the other), all with
 *   their defaults (ours: approximate kNN from 10,000 points on, for both gradients; scikit-learn: exact
 *   kNN, OpenMP on the machine's cores). Trustworthiness T(5) on a fixed random subsample (the same
 *   points for every method; T among the subsample's points) by our `trustworthiness`, which equals
 *   scikit-learn's. Options: `--sizes 10000,20000` `--repeats 3` `--methods fft,bh,sklearn` (also
 *   `bh-exact`: Barnes-Hut with the exact kNN, the settings 'auto' used at every size before the FFT work)
 *   `--sample 2000` `--data gauss|manifold`. One JSON line per run, then one summary line per size and
 *   method with medians.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tsne } from '../../src/metrics/tsne.js';
import { trustworthiness } from '../../src/metrics/trustworthiness.js';
import { createRng } from '../../src/internal/random.js';
import type { TsneOptions } from '../../src/metrics/tsne.js';

const here = new URL('.', import.meta.url).pathname;
const which = process.argv[2] ?? 'all';
const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await f();
  const c = process.cpuUsage(c0);
  return { value, wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}

if (which === 'digits' || which === 'all') {
  const path = join(here, '../../test/fixtures/metrics/digits.json');
  const d = JSON.parse(readFileSync(path, 'utf8'));
  const method = arg('method', 'auto') as NonNullable<TsneOptions['method']>;
  for (const seed of [0, 1, 2]) {
    const ours = await timed(() => tsne({ data: d.data, shape: d.shape }, { seed, method }));
    const tmp = join(mkdtempSync(join(tmpdir(), 'tsne-')), 'emb.json');
    writeFileSync(tmp, JSON.stringify(ours.value.embedding));
    const c0 = process.cpuUsage();
    const sk = JSON.parse(execFileSync('/usr/bin/python3', [join(here, 'sklearn_tsne.py'), path, String(seed), tmp], { encoding: 'utf8' }));
    void c0;
    const oursT = trustworthiness({ data: d.data, shape: d.shape }, ours.value.embedding, { k: 5 });
    console.log(JSON.stringify({
      seed,
      method: ours.value.method,
      ours: { seconds: +ours.wall.toFixed(2), cpuSeconds: +ours.cpu.toFixed(2), kl: +ours.value.klDivergence.toFixed(4), trustworthiness: +oursT.toFixed(5), trustworthinessBySklearn: +sk.trustworthiness_other.toFixed(5) },
      sklearn: { seconds: +sk.seconds.toFixed(2), cpuSeconds: +sk.cpu_seconds.toFixed(2), kl: +sk.kl.toFixed(4), trustworthiness: +sk.trustworthiness.toFixed(5) },
    }));
  }
}

if (which === 'large' || which === 'all') {
  const n = 20000, dim = 50, k = 10;
  const rng = createRng(7);
  const centres = Array.from({ length: k }, () => Array.from({ length: dim }, () => rng.normal() * 4));
  const data = new Float64Array(n * dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) data[i * dim + j] = centres[i % k]![j]! + rng.normal();
  const phases: Record<string, number> = {};
  const t0 = performance.now();
  const r = await timed(() => tsne({ data, shape: [n, dim] }, { seed: 0, onProgress: (p) => { if (p.done === p.total) phases[p.phase] = +((performance.now() - t0) / 1000).toFixed(2); } }));
  console.log(JSON.stringify({ n, dim, seconds: +r.wall.toFixed(2), cpuSeconds: +r.cpu.toFixed(2), phasesDoneAt: phases, kl: +r.value.klDivergence.toFixed(4), iterations: r.value.iterations }));
}

if (which === 'scale') {
  const sizes = arg('sizes', '10000,20000,50000,100000').split(',').map(Number);
  const repeats = Number(arg('repeats', '1'));
  const methods = arg('methods', 'fft,bh,sklearn').split(',');
  const sampleSize = Number(arg('sample', '2000'));
  const kind = arg('data', 'gauss');
  const dir = mkdtempSync(join(tmpdir(), 'tsne-scale-'));
  const median = (v: number[]): number => { const s = [...v].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
  for (const n of sizes) {
    const dim = 50;
    const data = kind === 'manifold' ? manifoldData(n, dim) : gaussData(n, dim);
    const rawPath = join(dir, `x${n}.f64`);
    writeFileSync(rawPath, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    // the subsample for trustworthiness: the same points for every method
    const srng = createRng(99);
    const pick = new Set<number>();
    while (pick.size < Math.min(sampleSize, n)) pick.add(Math.floor(srng.next() * n));
    const sample = [...pick].sort((a, b) => a - b);
    const sub = new Float64Array(sample.length * dim);
    sample.forEach((i, r) => sub.set(data.subarray(i * dim, (i + 1) * dim), r * dim));
    const score = (emb: Float64Array): number => {
      const e = new Float64Array(sample.length * 2);
      sample.forEach((i, r) => { e[2 * r] = emb[2 * i]!; e[2 * r + 1] = emb[2 * i + 1]!; });
      return trustworthiness({ data: sub, shape: [sample.length, dim] }, { data: e, shape: [sample.length, 2] }, { k: 5 });
    };
    const runs: Record<string, { wall: number; cpu: number; knn: number; kl: number; t: number; rss: number }[]> = {};
    for (let rep = 0; rep < repeats; rep++) {
      for (const m of methods) {
        let rec: { wall: number; cpu: number; knn: number; kl: number; t: number; rss: number };
        if (m === 'sklearn') {
          const out = join(dir, `sk${n}.f64`);
          const res = JSON.parse(execFileSync('/usr/bin/python3', [join(here, 'sklearn_tsne.py'), '--raw', rawPath, String(n), String(dim), String(rep), out], { encoding: 'utf8', maxBuffer: 1 << 26 }));
          const emb = new Float64Array(readFileSync(out).buffer.slice(0));
          rec = { wall: res.seconds, cpu: res.cpu_seconds, knn: Number.NaN, kl: res.kl, t: score(emb), rss: Number.NaN };
        } else {
          // bh-exact: Barnes-Hut with the exact (vantage-point tree) kNN, the default below 10,000 points
          const options: TsneOptions = { seed: rep, method: m === 'fft' ? 'fft' : 'barnes-hut', ...(m === 'bh-exact' ? { neighbourSearch: 'exact' } : {}) };
          let knn = Number.NaN;
          // peak resident memory, sampled at every progress report (the process's, data included)
          let rss = process.memoryUsage().rss;
          const t0 = performance.now();
          const r = await timed(() => tsne({ data, shape: [n, dim] }, { ...options, onProgress: (p) => {
            rss = Math.max(rss, process.memoryUsage().rss);
            if (p.phase === 'neighbours' && p.done === p.total) knn = (performance.now() - t0) / 1000;
          } }));
          rec = { wall: r.wall, cpu: r.cpu, knn, kl: r.value.klDivergence, t: score(Float64Array.from(r.value.embedding.flat())), rss: rss / 2 ** 20 };
        }
        (runs[m] ??= []).push(rec);
        console.log(JSON.stringify({ n, data: kind, method: m, repeat: rep, seconds: +rec.wall.toFixed(1), cpuSeconds: +rec.cpu.toFixed(1), knnSeconds: +rec.knn.toFixed(1), kl: +rec.kl.toFixed(4), trustworthinessSample: +rec.t.toFixed(4), peakRssMB: Math.round(rec.rss), load: loadAverage() }));
      }
    }
    for (const m of methods) {
      const v = runs[m]!;
      console.log(JSON.stringify({ summary: true, n, data: kind, method: m, runs: v.length, medianSeconds: +median(v.map((r) => r.wall)).toFixed(1), medianCpuSeconds: +median(v.map((r) => r.cpu)).toFixed(1), medianKl: +median(v.map((r) => r.kl)).toFixed(4), medianTrustworthinessSample: +median(v.map((r) => r.t)).toFixed(4) }));
    }
  }
}

/** The `large` data at any size: 10 Gaussian clusters in `dim` dimensions, centres N(0, 4²), unit noise. */
function gaussData(n: number, dim: number): Float64Array {
  const k = 10;
  const rng = createRng(7);
  const centres = Array.from({ length: k }, () => Array.from({ length: dim }, () => rng.normal() * 4));
  const data = new Float64Array(n * dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) data[i * dim + j] = centres[i % k]![j]! + rng.normal();
  return data;
}

/**
 * MNIST-like data: 10 classes, each a curved 4-dimensional manifold (sines of a random linear map of
 * a latent Gaussian) embedded in `dim` dimensions, plus small isotropic noise: low intrinsic
 * dimension, as image features have.
 */
function manifoldData(n: number, dim: number): Float64Array {
  const k = 10;
  const latent = 4;
  const rng = createRng(11);
  const centres = Array.from({ length: k }, () => Array.from({ length: dim }, () => rng.normal() * 3));
  const maps = Array.from({ length: k }, () => Array.from({ length: dim * latent }, () => rng.normal()));
  const data = new Float64Array(n * dim);
  const z = new Float64Array(latent);
  for (let i = 0; i < n; i++) {
    const c = i % k;
    for (let t = 0; t < latent; t++) z[t] = rng.normal();
    for (let j = 0; j < dim; j++) {
      let s = 0;
      for (let t = 0; t < latent; t++) s += maps[c]![j * latent + t]! * z[t]!;
      data[i * dim + j] = centres[c]![j]! + 2 * Math.sin(s / 2) + 0.1 * rng.normal();
    }
  }
  return data;
}

function loadAverage(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return Number.NaN;
  }
}
