/**
 * medrobust: test and harden medical diagnostic image classifiers against adversarial examples.
 * @packageDocumentation
 */
export * from './errors.js';
export type * from './types.js';
export { toModelFn, selectOutput } from './model.js';
export { memoryStatus, type MemoryStatus } from './internal/memory.js';
export * from './attacks/index.js';
export * from './data/index.js';
export * from './models/index.js';
export * from './defenses/index.js';
export * from './corruptions/index.js';
export * from './metrics/index.js';
export * from './analysis/index.js';
export * from './report/index.js';
export * from './shard/index.js';
