export { fgsm, type FgsmOptions } from './fgsm.js';
export { pgd, pgdAsync, type PgdOptions, type PgdAsyncOptions } from './pgd.js';
export { gap, type GapOptions, type GapResult } from './gap.js';
export { trainGap, type TrainGapOptions, type TrainGapReport } from './trainGap.js';
export type { GapBatch } from './gapData.js';
export { gapUnet, gapResnet, type GapUnetOptions, type GapResnetOptions } from './gapGenerators.js';
export type { GapObjective } from './gapObjective.js';
export type { GapClip, GapScalingOptions } from './gapCommon.js';
export type { TrainGapState, GapEpochStats, GapSavedTensor } from './gapCheckpoint.js';
