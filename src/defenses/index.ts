export { advTrain, type AdvTrainOptions, type AdversarialGenerator } from './advTrain.js';
export { mpAdvTrain, mpAdvTrainPaperPreset, type MpAdvTrainOptions } from './mpAdvTrain.js';
export { maAdvTrain, maAdvTrainPaperPresets, type MaAdvTrainOptions, type MaAdvTrainPreset } from './maAdvTrain.js';
export { trades, type TradesOptions } from './trades.js';
export { martLoss, type MartLossOptions } from './martLoss.js';
export { tradesLoss, type TradesLossOptions } from './tradesLoss.js';
export { crossEntropy, binaryCrossEntropy, focalLoss, l1Penalty, type FocalLossOptions } from './taskLosses.js';
export type {
  ValidationOptions, TrainingLoopOptions, TrainingCheckpoint, EpochRecord, TrainingReport,
} from './trainingLoop.js';
export type { SavedTensor } from './trainingState.js';
export {
  mpAdvTrainPreset, maAdvTrainPreset, type PaperDataset, type DefensePreset, type DefensePresetOptions,
} from './paperPresets.js';
