/**
 * Metrics: classification and robustness metrics, t-SNE and discriminability scores.
 * @module
 */
export type { FlatMatrix, MatrixLike, VectorLike } from './matrix.js';
export { accuracy, type ThresholdOptions } from './accuracy.js';
export { rocAuc, rocAucPerClass, paperAuc, type RocAucOptions, type PaperAucOptions } from './rocAuc.js';
export { foolingRate } from './foolingRate.js';
export { sensitivitySpecificity, type SensitivitySpecificity } from './sensitivitySpecificity.js';
export { perturbationNorms, type PerturbationNorms } from './perturbationNorms.js';
export {
  evaluateRobustness, type EvaluateRobustnessOptions, type RobustnessAttack, type RobustnessReport, type RobustnessRow, type RobustnessSamples,
} from './evaluateRobustness.js';
export { tsne, type TsneOptions, type TsneResult } from './tsne.js';
export { tsneTransform, type TsneMap, type TsneTransformOptions } from './tsneTransform.js';
export { trustworthiness, type TrustworthinessOptions } from './trustworthiness.js';
export { knnAccuracy, type KnnAccuracyOptions } from './knnAccuracy.js';
export {
  discriminability, compareDiscriminability, type DiscriminabilityOptions, type DiscriminabilityScores, type DiscriminabilityComparison,
} from './discriminability.js';
export {
  evaluateWorstCase, type EvaluateWorstCaseOptions, type WorstCaseAttack, type WorstCaseAttackInfo, type WorstCaseAttackRow, type WorstCaseBatch, type WorstCasePerLabel,
  type WorstCaseReport, type WorstCaseRow, type WorstCaseWarning, type WorstCaseRecords, type WorstCaseSettings, type WorstCaseTally,
} from './evaluateWorstCase.js';
export { averagePrecision, type AveragePrecisionOptions } from './averagePrecision.js';
export { hammingLoss } from './hammingLoss.js';
export { attackSuccess, type AttackSuccessOptions, type AttackSuccessResult } from './attackSuccess.js';
