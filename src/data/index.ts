/**
 * Data: `.npy`/`.npz` IO, MedMNIST, the paper's preprocessing presets, batch sources and the
 * generated demo sets. Backend-agnostic: file and image IO live in `medrobust/node`.
 * @packageDocumentation
 */
export { readNpy, writeNpy, type NpyArray, type NpyData, type NpyDtype, type ReadNpyOptions } from './npy.js';
export { readNpz, writeNpz, type ReadNpzOptions, type WriteNpzOptions } from './npz.js';
export { npyToTensor, tensorToNpy } from './npyTensor.js';
export { batchesFromTensors, type BatchSource, type BatchesFromTensorsOptions, type EpochBatchSource, type LabeledImages } from './batchesFromTensors.js';
export { medmnistFromNpz, MEDMNIST_INFO, type MedmnistInfo, type MedmnistName, type MedmnistOptions, type MedmnistSplit } from './medmnist.js';
export { preprocess, PAPER_PRESETS, type PaperPreset, type PreprocessOptions, type PreprocessSpec } from './preprocess.js';
export { generateLesions, type GenerateLesionsOptions, type GeneratedLesions } from './generateLesions.js';
export { generateChestXrays, CHEST_FINDINGS, CHEST_COOCCURRENCE, type ChestFindingRule, type GenerateChestXraysOptions, type GeneratedChestXrays } from './generateChestXrays.js';
export { parseChestXray14List, parseLabelCsv, type LabelRow, type ParseLabelCsvOptions } from './labelFiles.js';
