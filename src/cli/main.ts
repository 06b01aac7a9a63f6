#!/usr/bin/env node
/**
 * The `medrobust` command. `medrobust demo` runs the whole experiment on generated data;
 * `medrobust run --config cfg.json` runs a configured one; `attack`, `analyze` and `defend` run the
 * clean training plus that stage. Ctrl-C saves what is finished and exits; rerunning resumes.
 * @internal
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { AbortError, MedrobustError } from '../errors.js';
import { DEMO_CONFIG, resolveConfig } from './config.js';
import { runExperiment } from './experiment.js';
import { PAPER_EXPERIMENTS, runPaperExperiment } from './paper/index.js';

const USAGE = `usage: medrobust <command> [options]

commands:
  demo                 train, attack (FGSM, PGD, GAP), analyse, defend (PGD-AT, MPAdvT, MAAdvT) and report
                       on generated lesion and chest data
  run                  the same, driven by --config
  train                clean training of the configured tasks only
  attack|analyze|defend  clean training plus that stage only
  reproduce <experiment> <data-root> [--preset corrected|paper] [--model dir] [--train-epochs N] [--limit N] [--gap]
                       [--analyze] [--defend pgd-at|mpadvt|maadvt] [--defend-epochs N]
                       one of the paper's experiments on your copy of its data set:
                       isic2016 (AttnVGG), messidor (Inception-v3), chestxray14 (DenseNet-121)
  benchmark            print how to run the speed benchmarks (npm run bench)

options:
  --config <file>      JSON config merged over the demo's (see docs/guides/cli.md)
  --out <dir>          parent folder of run folders (default: runs)
  --name <name>        run name (folder under --out)
  --backend <name>     auto | wasm | cpu | node | node-gpu
  --quiet              no progress output
  -h, --help           this text

A rerun with the same name resumes an interrupted run; delete its folder to start over.`;

export async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'reproduce') {
    const experiment = PAPER_EXPERIMENTS[argv[1] ?? ''];
    if (!experiment) {
      process.stderr.write(`medrobust reproduce: experiment must be one of ${Object.keys(PAPER_EXPERIMENTS).join(', ')}, received ${argv[1] ?? 'nothing'}\n`);
      return 2;
    }
    return runPaperExperiment(experiment, argv.slice(2));
  }
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      config: { type: 'string' }, out: { type: 'string', default: 'runs' }, name: { type: 'string' },
      backend: { type: 'string' }, quiet: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const command = positionals[0];
  if (values.help || command === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined && !values.help ? 2 : 0;
  }
  if (command === 'benchmark') {
    process.stdout.write('Benchmarks are timed apart from the library: run `npm run bench` in a clone of medrobust; figures go to BENCHMARKS.md.\n');
    return 0;
  }
  const stagesByCommand: Record<string, ReadonlyArray<'attack' | 'analyze' | 'defend'> | undefined> = {
    demo: undefined, run: undefined, train: [], attack: ['attack'], analyze: ['analyze'], defend: ['defend'],
  };
  if (!(command in stagesByCommand)) {
    process.stderr.write(`medrobust: unknown command '${command}'\n${USAGE}\n`);
    return 2;
  }
  const user: Record<string, unknown> = values.config ? (JSON.parse(readFileSync(values.config, 'utf8')) as Record<string, unknown>) : {};
  if (values.name) user.name = values.name;
  if (values.backend) user.backend = values.backend;
  const config = resolveConfig(user, DEMO_CONFIG);
  const controller = new AbortController();
  const onSigint = () => {
    process.stderr.write('\nmedrobust: interrupted — finishing the current step\'s checkpoint; rerun the same command to resume.\n');
    controller.abort();
  };
  process.once('SIGINT', onSigint);
  try {
    const report = await runExperiment(config, { out: values.out!, signal: controller.signal, quiet: values.quiet, stages: stagesByCommand[command] });
    process.stdout.write(`report: ${report}\n`);
    return 0;
  } catch (err) {
    if (err instanceof AbortError) return 130;
    if (err instanceof MedrobustError) {
      process.stderr.write(`medrobust: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
