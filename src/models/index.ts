/**
 * The paper's architectures (AttnVGG, Inception-v3, DenseNet-121) and small nets for CPU work.
 * @packageDocumentation
 */
export type { ModelOptions, Normalization } from './modelOptions.js';
export { smallCnn, type SmallCnnOptions } from './smallCnn.js';
export { smallResNet, type SmallResNetOptions } from './smallResNet.js';
export { denseNet121, type DenseNet121Options } from './denseNet121.js';
export { inceptionV3, type InceptionV3Options } from './inceptionV3.js';
export { attnVgg, type AttnVggOptions } from './attnVgg.js';
export { loadTorchWeights, torchModuleOf, type LoadTorchWeightsOptions, type LoadTorchWeightsReport, type TorchTensor } from './torchWeights.js';
