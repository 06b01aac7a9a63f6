/** The paper's experiments by CLI name. @internal */
import { chestX } from './chestxray14-densenet121.js';
import type { PaperExperiment } from './experiment.js';
import { isic2016 } from './isic2016-attnvgg.js';
import { messidor } from './messidor-inceptionv3.js';

export const PAPER_EXPERIMENTS: Readonly<Record<string, PaperExperiment>> = {
  isic2016: isic2016,
  messidor: messidor,
  chestxray14: chestX,
};
export { runPaperExperiment, type PaperExperiment } from './experiment.js';
