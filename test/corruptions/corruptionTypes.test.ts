import { describe, expect, it } from 'vitest';
import { CORRUPTION_TYPES, CORRUPTIONS, SEVERITIES, corruptionCategory } from '../../src/corruptions/corruptionTypes.js';
import { PERTURBATION_TYPES } from '../../src/corruptions/perturbationSequence.js';

describe('corruption types', () => {
  it('lists the 18 Benchmark-C types in ImageNet-C families (4 noise, 5 blur, 4 weather, 5 digital), each implemented', () => {
    expect(CORRUPTION_TYPES).toHaveLength(18);
    expect(new Set(CORRUPTION_TYPES).size).toBe(18);
    const count = (c: string) => CORRUPTION_TYPES.filter((t) => corruptionCategory(t) === c).length;
    expect([count('noise'), count('blur'), count('weather'), count('digital')]).toEqual([4, 5, 4, 5]);
    expect(CORRUPTION_TYPES).not.toContain('spatter');
    for (const t of CORRUPTION_TYPES) expect(typeof CORRUPTIONS[t]).toBe('function');
    expect(SEVERITIES).toEqual([1, 2, 3, 4, 5]);
    expect(PERTURBATION_TYPES).toHaveLength(14);
  });
});
