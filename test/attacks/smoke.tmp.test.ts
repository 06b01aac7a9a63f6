import * as tf from '@tensorflow/tfjs-core';
import { it } from 'vitest';
import { apgd } from '../../src/attacks/apgd.js';
import { pgd } from '../../src/attacks/pgd.js';
import { useTestBackend } from '../helpers/backends.js';
import { buildSmallNet, trainNet } from '../helpers/smallNet.js';
import { toyMultiLabel } from '../helpers/toyData.js';
import { toModelFn } from '../../src/model.js';
import { attackSuccess } from '../../src/metrics/attackSuccess.js';

it('smoke', async () => {
  await useTestBackend('cpu');
  const data = toyMultiLabel({ n: 24, seed: 3 });
  const mnet = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 11 });
  trainNet(mnet, data.images, data.labels, { steps: 100, task: 'multi-label' });
  const m = toModelFn(mnet);
  for (const eps of [0.3, 0.5]) for (const loss of ['margin', 'ce'] as const) for (const steps of [20, 100]) {
    const adv = apgd(mnet, data.images, data.labels, { epsilon: eps, steps, loss, task: 'multi-label', goal: 'flip-all', seed: 1 });
    const z = m(adv);
    const s = attackSuccess(z, data.labels, { task: 'multi-label', goal: 'flip-all' });
    console.log(eps, loss, steps, s.success.filter(Boolean).length / 24, s.margin.map((v) => v.toFixed(2)).join(' '));
    tf.dispose([adv, z]);
  }
  const target = tf.sub(1, data.labels);
  const adv = pgd(mnet, data.images, target, { epsilon: 0.3, steps: 100, task: 'multi-label', targeted: true, seed: 1 });
  const z = m(adv);
  console.log('pgd targeted complement', attackSuccess(z, data.labels, { task: 'multi-label', goal: 'flip-all' }).success.filter(Boolean).length / 24);
});
