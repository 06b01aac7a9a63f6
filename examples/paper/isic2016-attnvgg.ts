/**
 * The paper's isic2016 experiment (see src/cli/paper/isic2016-attnvgg.ts for its settings), the same as
 * `npx medrobust reproduce isic2016 <data-root> [--preset corrected|paper] [--model dir] [--train-epochs N] [--gap]`.
 */
import { PAPER_EXPERIMENTS, runPaperExperiment } from '../../src/cli/paper/index.js';

process.exitCode = await runPaperExperiment(PAPER_EXPERIMENTS['isic2016']!, process.argv.slice(2));
