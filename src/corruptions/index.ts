/**
 * The journal version's common-perturbation benchmark (paper.md §9): the 18 corruptions × 5
 * severities of Benchmark-C, the 14 perturbation sequences of Benchmark-P, the flip-probability
 * metric, and table-producing evaluations for reports.
 * @packageDocumentation
 */
export { CORRUPTION_TYPES, SEVERITIES, corruptionCategory, type CorruptionCategory, type CorruptionType, type Severity } from './corruptionTypes.js';
export { corrupt, type CorruptOptions } from './corrupt.js';
export { NOISE_PERTURBATIONS, PERTURBATION_TYPES, perturbationSequence, type Difficulty, type PerturbationSequenceOptions, type PerturbationType } from './perturbationSequence.js';
export { flipProbability, type FlipProbabilityOptions, type SequencePredictions } from './flipProbability.js';
export {
  evaluateCorruptions,
  type CorruptionSamples,
  type CorruptionTable,
  type CorruptionTableRow,
  type CorruptionTypeSummary,
  type EvaluateCorruptionsOptions,
} from './evaluateCorruptions.js';
export { evaluatePerturbations, type EvaluatePerturbationsOptions, type PerturbationSamples, type PerturbationTable, type PerturbationTableRow } from './evaluatePerturbations.js';
export { corruptionGrid, type CorruptionGridOptions } from './corruptionGrid.js';
