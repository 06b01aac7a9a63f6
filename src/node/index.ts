/**
 * Node-only parts of medrobust (file IO, image decoding, dataset loaders, checkpoints on disk).
 * @packageDocumentation
 */
export { loadNpz, saveNpz, loadMedmnist, type LoadNpzOptions, type LoadMedmnistOptions } from './npzFiles.js';
export { fileIO, saveModel, loadModel } from './modelFiles.js';
export { fileCheckpoint, type CheckpointState, type CheckpointValue } from './fileCheckpoint.js';
export {
  decodeImage, imageFolder, labelCsvDataset, chestXray14,
  type DecodeImageOptions, type ImageItem, type ImageBatchesOptions, type ImageFileDataset, type LabelCsvDatasetOptions,
} from './images.js';
export { writeShardResult, readShardResult, mergeResults } from './shardFiles.js';
