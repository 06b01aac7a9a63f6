/**
 * The paper's chestxray14 experiment (see src/cli/paper/chestxray14-densenet121.ts for its settings), the same as
 * `npx medrobust reproduce chestxray14 <data-root> [--preset corrected|paper] [--model dir] [--train-epochs N] [--gap]`.
 */
import { PAPER_EXPERIMENTS, runPaperExperiment } from '../../src/cli/paper/index.js';

process.exitCode = await runPaperExperiment(PAPER_EXPERIMENTS['chestxray14']!, process.argv.slice(2));
