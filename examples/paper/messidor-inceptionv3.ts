/**
 * The paper's messidor experiment (see src/cli/paper/messidor-inceptionv3.ts for its settings), the same as
 * `npx medrobust reproduce messidor <data-root> [--preset corrected|paper] [--model dir] [--train-epochs N] [--gap]`.
 */
import { PAPER_EXPERIMENTS, runPaperExperiment } from '../../src/cli/paper/index.js';

process.exitCode = await runPaperExperiment(PAPER_EXPERIMENTS['messidor']!, process.argv.slice(2));
