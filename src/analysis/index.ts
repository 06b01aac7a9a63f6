/**
 * Analyses of how attacks work (paper.md §5): intermediate features, feature-map and attention
 * pictures, saliency maps, label co-occurrence and correlation.
 * @module
 */
export { jetColormap, tileImages, type RgbImage, type ColormapOptions, type TileOptions } from './colormap.js';
export { layerActivations, activationShift, type LayerActivationsOptions, type ActivationShift } from './layerActivations.js';
export { featureMapImages, type FeatureMapOptions } from './featureMapImages.js';
export { attentionOverlay, type AttentionOverlayOptions } from './attentionOverlay.js';
export { saliencyMap, type SaliencyMapOptions } from './saliencyMap.js';
export {
  labelCooccurrence, labelCorrelation, labelCorrelationShift, type LabelMatrixOptions, type LabelCooccurrenceOptions, type LabelCorrelationShift, type MatrixShift,
} from './labelCooccurrence.js';
