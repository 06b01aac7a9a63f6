import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { scaleSaturation, shiftValue } from '../../src/corruptions/color.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectClose } from '../helpers/close.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

describe.each(BACKENDS)('HSV edits on RGB, %s', (backend) => {
  beforeAll(() => useTestBackend(backend));
  // (skimage agreement on a textured image is checked in corrupt.test.ts against the Python fixture)
  it('black and grey pixels follow skimage: V shift makes black grey; saturation of grey uses hue 0 (red)', async () => {
    const x = tf.tensor4d([0, 0, 0, 0.4, 0.4, 0.4, 0.8, 0.4, 0.2], [1, 1, 3, 3]);
    const brighter = shiftValue(x, 0.2);
    expectClose(brighter.dataSync(), [0.2, 0.2, 0.2, 0.6, 0.6, 0.6, 1, 0.5, 0.25], 1e-6);
    const darker = shiftValue(x, -0.5);
    expectClose(darker.dataSync(), [0, 0, 0, 0, 0, 0, 0.3, 0.15, 0.075], 1e-6);
    const sat = scaleSaturation(x, 0.5, 0.1);
    // grey: S' = 0.1 → (V, 0.9V, 0.9V); colour: S = .75 → S' = .475, x'_c = V − S'·V·(V − x_c)/(V − min)
    expectClose(sat.dataSync(), [0, 0, 0, 0.4, 0.36, 0.36, 0.8, 0.8 - 0.475 * 0.8 * (0.4 / 0.6), 0.8 - 0.475 * 0.8], 1e-6);
    await expectNoLeak(() => [shiftValue(x, 0.1), scaleSaturation(x, 2, 0)]);
    tf.dispose([x, brighter, darker, sat]);
  });
});
