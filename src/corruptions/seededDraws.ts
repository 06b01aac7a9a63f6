/**
 * tfjs-core's seeded `randomNormal` and `randomUniform` (float32), reproduced on plain arrays: the
 * same alea generator (seedrandom, seeded with the seed's decimal string), the same Marsaglia polar
 * pairs and the same arithmetic, so the values are bit-identical to the tensor ops' (a test holds
 * them to it), without building a tensor that is read straight back. The corruptions draw their
 * noise, snow layers and displacement fields here.
 * @internal
 */

/** The three states and carry of alea seeded by `seed` (seedrandom's Mash on ' ' and the seed). */
function aleaState(seed: string): [number, number, number, number] {
  let n = 0xefc8249d;
  const mash = (data: string): number => {
    for (let i = 0; i < data.length; i++) {
      n += data.charCodeAt(i);
      let h = 0.02519603282416938 * n;
      n = h >>> 0;
      h -= n;
      h *= n;
      n = h >>> 0;
      h -= n;
      n += h * 0x100000000;
    }
    return (n >>> 0) * 2.3283064365386963e-10;
  };
  let s0 = mash(' ');
  let s1 = mash(' ');
  let s2 = mash(' ');
  s0 -= mash(seed);
  if (s0 < 0) s0 += 1;
  s1 -= mash(seed);
  if (s1 < 0) s1 += 1;
  s2 -= mash(seed);
  if (s2 < 0) s2 += 1;
  return [s0, s1, s2, 1];
}

/**
 * The values of `tf.randomNormal([size], mean, stdDev, 'float32', seed)`. As tfjs, a seed of 0
 * (or none) draws a random one.
 */
export function randomNormalValues(size: number, mean: number, stdDev: number, seed?: number): Float32Array {
  let [s0, s1, s2, c] = aleaState(String(seed ? seed : Math.random()));
  const out = new Float32Array(size);
  for (let i = 0; i < size; i += 2) {
    let v1: number;
    let v2: number;
    let s: number;
    do {
      let t = 2091639 * s0 + c * 2.3283064365386963e-10;
      s0 = s1;
      s1 = s2;
      s2 = t - (c = t | 0);
      v1 = 2 * s2 - 1;
      t = 2091639 * s0 + c * 2.3283064365386963e-10;
      s0 = s1;
      s1 = s2;
      s2 = t - (c = t | 0);
      v2 = 2 * s2 - 1;
      s = v1 * v1 + v2 * v2;
    } while (s >= 1 || s === 0);
    const mul = Math.sqrt((-2.0 * Math.log(s)) / s);
    out[i] = mean + stdDev * v1 * mul;
    if (i + 1 < size) out[i + 1] = mean + stdDev * v2 * mul;
  }
  return out;
}

/** The values of `tf.randomUniform([size], min, max, 'float32', seed)`. */
export function randomUniformValues(size: number, min: number, max: number, seed?: number): Float32Array {
  let [s0, s1, s2, c] = aleaState(String(seed == null ? Math.random() : seed));
  const range = max - min;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const t = 2091639 * s0 + c * 2.3283064365386963e-10;
    s0 = s1;
    s1 = s2;
    s2 = t - (c = t | 0);
    out[i] = min + range * s2;
  }
  return out;
}
