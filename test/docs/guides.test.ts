/**
 * The guides' recipes run as written: each TypeScript block below a tested heading is extracted from the
 * Markdown, its `medrobust` imports pointed at the sources, and run as a Node process (which must exit
 * by itself); the test checks what it prints.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { generateLesions } from '../../src/data/generateLesions.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'medrobust-guides-'));
// Scripts live under node_modules/.cache (git-ignored) so that their bare imports resolve from the repo.
const scripts = join(repo, 'node_modules', '.cache', 'medrobust-guides');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The first ```ts block after a heading of a guide. */
export function codeAfter(guide: string, heading: string): string {
  const text = readFileSync(join(repo, 'docs', 'guides', guide), 'utf8');
  const at = text.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`${guide} has no heading '${heading}'`);
  const match = /```ts\n([\s\S]*?)```/.exec(text.slice(at));
  if (!match) throw new Error(`no ts block after '${heading}' in ${guide}`);
  return match[1]!;
}

function runGuideCode(name: string, code: string, cwd: string): { status: number | null; stdout: string; stderr: string } {
  const src = (p: string) => pathToFileURL(join(repo, 'src', p)).href;
  const source = code
    .replace(/from 'medrobust'/g, `from '${src('index.ts')}'`)
    .replace(/from 'medrobust\/backend'/g, `from '${src('backend/index.ts')}'`)
    .replace(/from 'medrobust\/node'/g, `from '${src('node/index.ts')}'`);
  expect(source).not.toMatch(/from 'medrobust/);
  mkdirSync(scripts, { recursive: true });
  const file = join(scripts, `${name}.mts`);
  writeFileSync(file, source);
  const loader = pathToFileURL(join(repo, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  return spawnSync(process.execPath, ['--import', loader, file], { cwd, encoding: 'utf8', timeout: 300_000 });
}

/**
 * A graph model as tensorflowjs_converter writes one: input [N, 16, 16, 3] → flatten → MatMul → BiasAdd
 * ('logits') → Softmax ('probabilities', the default output). Its weights are a logistic regression of
 * generated lesions' pixels.
 */
function writeGraphModel(dir: string): void {
  // Logistic regression on the pixels, fitted here (full-batch Adam).
  const train = generateLesions({ count: 512, size: 16, seed: 7 });
  const x = tf.reshape(train.images, [512, -1]) as tf.Tensor2D;
  const y = tf.oneHot(tf.cast(train.labels, 'int32'), 2);
  const kernel = tf.variable(tf.zeros([768, 2]));
  const bias = tf.variable(tf.zeros([2]));
  const optimizer = tf.train.adam(0.01);
  for (let step = 0; step < 300; step++) {
    optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, tf.add(tf.matMul(x, kernel), bias)) as tf.Scalar, false, [kernel, bias]);
  }
  optimizer.dispose();
  tf.dispose([x, y]);
  const weights = new Float32Array([...kernel.dataSync(), ...new Float32Array(new Int32Array([-1, 768]).buffer), ...bias.dataSync()]);
  tf.dispose([kernel, bias, train.images, train.labels]);
  const float = { type: 'DT_FLOAT' };
  const node = (name: string, op: string, input: string[], attr: object = { T: float }) => ({ name, op, input, attr });
  const modelJson = {
    format: 'graph-model', generatedBy: 'medrobust test', convertedBy: 'hand',
    modelTopology: {
      node: [
        { name: 'x', op: 'Placeholder', attr: { dtype: float, shape: { shape: { dim: [{ size: '-1' }, { size: '16' }, { size: '16' }, { size: '3' }] } } } },
        { name: 'kernel', op: 'Const', attr: { dtype: float, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '768' }, { size: '2' }] } } } } },
        { name: 'flat_shape', op: 'Const', attr: { dtype: { type: 'DT_INT32' }, value: { tensor: { dtype: 'DT_INT32', tensorShape: { dim: [{ size: '2' }] } } } } },
        { name: 'bias', op: 'Const', attr: { dtype: float, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '2' }] } } } } },
        node('flat', 'Reshape', ['x', 'flat_shape'], { T: float, Tshape: { type: 'DT_INT32' } }),
        node('matmul', 'MatMul', ['flat', 'kernel'], { T: float, transpose_a: { b: false }, transpose_b: { b: false } }),
        node('logits', 'BiasAdd', ['matmul', 'bias'], { T: float, data_format: { s: Buffer.from('NHWC').toString('base64') } }),
        node('probabilities', 'Softmax', ['logits']),
      ],
      versions: { producer: 1 },
    },
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: [
      { name: 'kernel', shape: [768, 2], dtype: 'float32' }, { name: 'flat_shape', shape: [2], dtype: 'int32' }, { name: 'bias', shape: [2], dtype: 'float32' },
    ] }],
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.json'), JSON.stringify(modelJson));
  writeFileSync(join(dir, 'group1-shard1of1.bin'), new Uint8Array(weights.buffer));
}

describe('getting-started.md', () => {
  it('"Train a model from scratch, then attack it" trains to a useful accuracy, and the attacks lower it', () => {
    const cwd = join(work, 'clean-training');
    mkdirSync(cwd, { recursive: true });
    const r = runGuideCode('clean-training', codeAfter('getting-started.md', '## Train a model from scratch, then attack it'), cwd);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^epoch 1\/5: loss [0-9.]+\n/);
    const m = /trained 5 epochs; accuracy clean ([0-9.]+), FGSM ([0-9.]+), PGD-10 ([0-9.]+) at ε = 4\/255/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    const [clean, fgsm, pgd] = [m![1], m![2], m![3]].map(Number) as [number, number, number];
    expect(clean).toBeGreaterThan(0.8);
    expect(fgsm).toBeLessThan(clean);
    expect(pgd).toBeLessThanOrEqual(fgsm);
    expect(readFileSync(join(cwd, 'models', 'lesion-cnn', 'model.json'), 'utf8')).toContain('conv1');
  }, 300_000);

  it('"Attack a TensorFlow.js GraphModel" attacks the logits node of a converted graph', async () => {
    await tf.setBackend('cpu');
    const cwd = join(work, 'graph-model');
    writeGraphModel(join(cwd, 'models', 'lesion-graph'));
    const r = runGuideCode('graph-model', codeAfter('getting-started.md', '## Attack a TensorFlow.js GraphModel'), cwd);
    expect(r.status, r.stderr).toBe(0);
    const m = /graph model: accuracy clean ([0-9.]+), PGD-10 ε = 4\/255 ([0-9.]+)/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    const [clean, robust] = [Number(m![1]), Number(m![2])];
    expect(clean).toBeGreaterThan(0.7);
    expect(robust).toBeLessThan(clean - 0.3);
  }, 300_000);
});
