/**
 * t-SNE benchmark (not part of npm test): `npx tsx bench/tsne/tsne.bench.mts [digits|large|all]`.
 * - digits: scikit-learn's digits (1797×64, test/fixtures/metrics/digits.json), our Barnes-Hut t-SNE vs
 *   scikit-learn's TSNE (same defaults) run by /usr/bin/python3 in the same process tree, one after the
 *   other; both embeddings scored with scikit-learn's trustworthiness (k = 5).
 * - large: 20,000 points × 50 dims (10 Gaussian clusters, seeded), wall and CPU time.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tsne } from '../../src/metrics/tsne.js';
import { trustworthiness } from '../../src/metrics/trustworthiness.js';
import { createRng } from '../../src/internal/random.js';

const here = new URL('.', import.meta.url).pathname;
const which = process.argv[2] ?? 'all';

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
  for (const seed of [0, 1, 2]) {
    const ours = await timed(() => tsne({ data: d.data, shape: d.shape }, { seed }));
    const tmp = join(mkdtempSync(join(tmpdir(), 'tsne-')), 'emb.json');
    writeFileSync(tmp, JSON.stringify(ours.value.embedding));
    const c0 = process.cpuUsage();
    const sk = JSON.parse(execFileSync('/usr/bin/python3', [join(here, 'sklearn_tsne.py'), path, String(seed), tmp], { encoding: 'utf8' }));
    void c0;
    const oursT = trustworthiness({ data: d.data, shape: d.shape }, ours.value.embedding, { k: 5 });
    console.log(JSON.stringify({
      seed,
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
