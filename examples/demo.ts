/**
 * `npm run demo`: the whole experiment on generated data with the embedded backend — train a
 * single-label (lesion) and a multi-label (chest) CNN, attack them with FGSM, PGD and GAP at several
 * ε, run the paper's analyses, train PGD-AT, MPAdvT and MAAdvT, and write a report. Extra arguments
 * go to the CLI (e.g. `npm run demo -- --backend cpu`). Ctrl-C stops cleanly; rerun to resume.
 */
import { main } from '../src/cli/main.js';

process.exitCode = await main(['demo', ...process.argv.slice(2)]);
