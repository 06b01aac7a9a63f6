/**
 * Sharding: evaluations split over processes or machines (`options.shard`) and merged exactly.
 * @module
 */
export { mergeShards, type MergedResults, type ShardableReport, type ShardResult } from './mergeShards.js';
export { mergeWorstCase } from './mergeWorstCase.js';
