import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corrupt } from '../../src/corruptions/corrupt.js';
import { corruptionGrid } from '../../src/corruptions/corruptionGrid.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { createRng } from '../../src/internal/random.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectClose } from '../helpers/close.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { texturedImages } from './images.js';

describe.each(BACKENDS)('corruptionGrid on %s', (backend) => {
  let image: tf.Tensor4D;
  beforeAll(async () => {
    await useTestBackend(backend);
    image = texturedImages(1, 12, 3);
  });
  afterAll(() => image.dispose());

  const tile = (grid: tf.Tensor3D, r: number, c: number) => tf.tidy(() => tf.slice(grid, [r * 12, c * 12, 0], [12, 12, 3]).dataSync());

  it('tiles every type (rows) at every severity (columns) after a clean column, each cell = corrupt() with its seed', () => {
    const grid = corruptionGrid(image, { seed: 6 });
    expect(grid.shape).toEqual([18 * 12, 6 * 12, 3]);
    const [lo, hi] = tf.tidy(() => [tf.min(grid).dataSync()[0]!, tf.max(grid).dataSync()[0]!]);
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThanOrEqual(1);
    expectClose(tile(grid, 0, 0), image.dataSync(), 0);
    expectClose(tile(grid, 17, 0), image.dataSync(), 0);
    const rng = createRng(6);
    for (let r = 0; r < 2; r++) {
      for (let s = 1; s <= 5; s++) {
        const expected = corrupt(image, r === 0 ? 'gaussian_noise' : 'shot_noise', { severity: s as 1, seed: rng.nextSeed() });
        expectClose(tile(grid, r, s), expected.dataSync(), 0);
        expected.dispose();
      }
    }
    grid.dispose();
  });

  it('takes [H, W, C] too, and a subset of types and severities without the clean column', () => {
    const squeezed = tf.squeeze(image, [0]) as tf.Tensor3D;
    const grid = corruptionGrid(squeezed, { types: ['contrast', 'pixelate'], severities: [2, 4], includeClean: false });
    expect(grid.shape).toEqual([24, 24, 3]);
    const contrast4 = corrupt(image, 'contrast', { severity: 4 });
    expectClose(tile(grid, 0, 1), contrast4.dataSync(), 1e-6);
    tf.dispose([squeezed, grid, contrast4]);
  });

  it('rejects bad input', () => {
    const two = tf.zeros([2, 12, 12, 3]);
    expect(() => corruptionGrid(two as tf.Tensor4D)).toThrow(InvalidArgumentError);
    expect(() => corruptionGrid(two as tf.Tensor4D)).toThrow(/corruptionGrid: image must be one image \[H, W, C\] or \[1, H, W, C\]/);
    expect(() => corruptionGrid(image, { types: ['blur' as never] })).toThrow(/options.types\[0\] must be one of/);
    expect(() => corruptionGrid(image, { severities: [6 as never] })).toThrow(/options.severities\[0\]/);
    expect(() => corruptionGrid(image, { clean: true } as never)).toThrow(/unknown option 'clean'/);
    two.dispose();
  });

  it('leaks no tensors', async () => {
    await expectNoLeak(() => corruptionGrid(image, { seed: 1, severities: [1] }));
    const squeezed = tf.squeeze(image, [0]) as tf.Tensor3D;
    await expectNoLeak(() => corruptionGrid(squeezed, { seed: 1, types: ['fog'] }));
    const big = tf.fill([12, 12, 3], 2) as tf.Tensor3D;
    await expectNoLeak(() => { try { corruptionGrid(big); } catch { /* expected */ } });
    tf.dispose([squeezed, big]);
  });
});
