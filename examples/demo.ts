/**
 * `npm run demo`: the whole experiment on generated data with the embedded backend — train a
 * single-label (lesion) and a multi-label (chest) CNN, attack them with FGSM, PGD and GAP at several
 * ε, run the paper's analyses, train PGD-AT, MPAdvT and MAAdvT, and write a report. Extra arguments
 * go to the CLI: `npm run demo -- --quick` runs every stage on small data (a smoke test of 10–30 s),
 * `npm run demo -- --backend cpu` picks a backend, `npm run demo -- --help` lists the options.
 * Ctrl-C stops cleanly (exit code 130); rerun to resume.
 */
import { main } from '../src/cli/main.js';

process.exitCode = await main(['demo', ...process.argv.slice(2)]);
