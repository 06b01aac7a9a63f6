/**
 * The FusedBatchNorm gradient now lives with the other tfjs-core fixes in `internal/gradientFixes.ts`
 * (every public entry installs it, so attacks work without `registerWasmGradients`); re-exported here.
 * @internal
 */
export { batchNormGradConfig } from '../../internal/gradientFixes.js';
