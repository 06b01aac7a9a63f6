/**
 * The commands of `medrobust`, their options and their help texts (`medrobust <command> --help`).
 * @internal
 */
import { editDistance } from '../internal/validate.js';

export type StageName = 'attack' | 'analyze' | 'defend';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder of the value in the help text. */
  value?: string;
  help: string;
}

export interface CommandSpec {
  summary: string;
  usage: string;
  /** Longer explanation printed by --help. */
  details?: string;
  options: Record<string, OptionSpec>;
  /** Which stages after clean training run (undefined: all). */
  stages?: readonly StageName[];
}

const HELP: Record<string, OptionSpec> = { help: { type: 'boolean', short: 'h', help: 'this text' } };

/** The options of `medrobust evaluate` (its runner is src/cli/worstCase.ts). */
const EVALUATE_OPTIONS: Record<string, OptionSpec> = {
  model: { type: 'string', value: 'dir', help: 'a saved model folder (saveModel / tfjs model.json): its output must be logits' },
  data: { type: 'string', value: 'file.npz', help: 'a MedMNIST .npz (its test split) or an .npz with images [N,H,W,C] in [0, 1] and labels' },
  epsilon: { type: 'string', value: 'list', help: 'budgets in 1/255 pixel units, comma-separated (e.g. 2,4,8)' },
  norm: { type: 'string', value: 'linf|l2', help: 'the threat model (default linf)' },
  version: { type: 'string', value: 'standard|cheap', help: 'the ensemble (default standard; cheap: 20-step APGDs, no Square)' },
  task: { type: 'string', value: 'single-label|multi-label', help: 'default: from the labels (multi-hot rows: multi-label)' },
  goal: { type: 'string', value: 'goal', help: 'multi-label: flip-any (default), flip-all, hide:K, add:K, healthy' },
  limit: { type: 'string', value: 'N', help: 'evaluate the first N images (default all)' },
  batch: { type: 'string', value: 'N', help: 'images per batch (default 64)' },
  seed: { type: 'string', value: 'N', help: 'the seed of the attacks (default 1)' },
  backend: { type: 'string', value: 'name', help: 'auto | wasm | cpu | node | node-gpu (default auto)' },
  out: { type: 'string', value: 'file.json', help: 'also write the full report (per image, per attack) as JSON; with --shard: the folder of the shard file (default shards)' },
  shard: { type: 'string', value: 'i/n|auto', help: 'evaluate shard i of n of the images and write <out>/shard-i-of-n.json for medrobust merge (auto: index from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID)' },
  quiet: { type: 'boolean', short: 'q', help: 'no progress output' },
};

const RUN_OPTIONS: Record<string, OptionSpec> = {
  config: { type: 'string', value: 'file', help: 'JSON config merged over the demo\'s (see docs/guides/cli.md)' },
  out: { type: 'string', value: 'dir', help: 'parent folder of run folders (default: runs)' },
  name: { type: 'string', value: 'name', help: 'run name: the folder under --out (default: the config\'s name)' },
  backend: { type: 'string', value: 'name', help: 'auto | wasm | cpu | node | node-gpu (default: the config\'s, auto)' },
  fresh: { type: 'boolean', help: 'discard the run folder\'s results, checkpoints and models and start over' },
  'redo-changed': { type: 'boolean', help: 'after a config change, recompute only the stages it affects (keeping the others)' },
  quiet: { type: 'boolean', short: 'q', help: 'no progress output' },
  ...HELP,
};

/** `run`'s options for sharded evaluation (src/cli/cluster.ts, docs/guides/cluster.md). */
const SHARD_OPTIONS: Record<string, OptionSpec> = {
  shard: { type: 'string', value: 'i/n|auto', help: 'evaluate shard i of n of the test split and write <run>/shards/shard-i-of-n.json (auto: index from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID); needs the trained models' },
  workers: { type: 'string', value: 'N|auto', help: 'train, evaluate in N shard processes on this machine, merge (auto: one per core)' },
  threads: { type: 'string', value: 'N', help: 'backend threads per process with --shard/--workers (default: all cores; cores / N with --workers)' },
  evaluations: { type: 'string', value: 'list', help: 'with --shard/--workers: robustness,corruptions,perturbations (default: robustness)' },
};

const RESUME_NOTE = `Ctrl-C stops at the next batch, keeping finished stages and a checkpoint (exit code 130); rerunning
the same command resumes. A rerun whose config differs from the run folder's is refused with the list of
changes, unless --fresh or --redo-changed is given.`;

export const COMMANDS: Record<string, CommandSpec> = {
  demo: {
    summary: 'train, attack (FGSM, PGD, GAP), analyse, defend (PGD-AT, MPAdvT, MAAdvT, TRADES) and report on generated lesion and chest data',
    usage: 'medrobust demo [--quick] [options]',
    details: `The whole experiment on generated data (about 5 minutes of CPU time with the wasm backend: 2.5-5 minutes
on an idle 2-core machine). --quick runs
every stage on small data (under a minute) as a smoke test, in runs/demo-quick. ${RESUME_NOTE}`,
    options: { quick: { type: 'boolean', help: 'every stage on small data (a smoke test, well under a minute)' }, ...RUN_OPTIONS },
  },
  run: {
    summary: 'the same pipeline, driven by --config',
    usage: 'medrobust run --config <file> [options]',
    details: `Runs (or resumes) the experiment of a config file: every field defaults to the demo's value and
unknown keys are errors. ${RESUME_NOTE}

With --shard i/n it evaluates only shard i of n of each task's test split (FGSM and PGD at the config's ε,
optionally the corruption and perturbation benchmarks) with the models a finished \`medrobust train\` left
in the run folder, and writes one shard file; \`medrobust merge\` combines the files. With --workers N it
trains, runs N such shards as child processes and merges them. See docs/guides/cluster.md.`,
    options: { ...RUN_OPTIONS, ...SHARD_OPTIONS },
  },
  train: { summary: 'clean training of the configured tasks only', usage: 'medrobust train [--config <file>] [options]', options: RUN_OPTIONS, stages: [] },
  attack: { summary: 'clean training, then the attacks only', usage: 'medrobust attack [--config <file>] [options]', options: RUN_OPTIONS, stages: ['attack'] },
  analyze: { summary: 'clean training, then the analyses only', usage: 'medrobust analyze [--config <file>] [options]', options: RUN_OPTIONS, stages: ['analyze'] },
  defend: { summary: 'clean training, then the defenses only', usage: 'medrobust defend [--config <file>] [options]', options: RUN_OPTIONS, stages: ['defend'] },
  reproduce: {
    summary: 'one of the paper\'s experiments on your copy of its data set: isic2016, messidor, chestxray14',
    usage: 'medrobust reproduce <isic2016|messidor|chestxray14> <data-root> [options]',
    details: `The paper's preprocessing and network (AttnVGG, Inception-v3, DenseNet-121), clean metrics, PGD at the
code's settings, and optionally GAP, the analyses and a defense. Nothing is downloaded: without the data it
prints what to download and where to put it (exit code 2). Results go to <out>/<experiment>-<preset>/.`,
    options: {
      preset: { type: 'string', value: 'corrected|paper', help: 'paper: the authors\' conventions; corrected (default): pixel-unit ε, [0, 1] clipping' },
      model: { type: 'string', value: 'dir', help: 'trained weights to evaluate (see docs/guides/weights.md)' },
      'train-epochs': { type: 'string', value: 'N', help: 'train the network for N epochs first (default 0)' },
      limit: { type: 'string', value: 'N', help: 'evaluate on the first N test images (default 64)' },
      gap: { type: 'boolean', help: 'also train and evaluate GAP' },
      'gap-epochs': { type: 'string', value: 'N', help: 'GAP epochs (default: the paper script\'s)' },
      'gap-batches': { type: 'string', value: 'N', help: 'GAP batches an epoch (default: the paper script\'s)' },
      analyze: { type: 'boolean', help: 'also run the analyses (discriminability, label co-occurrence)' },
      defend: { type: 'string', value: 'pgd-at|mpadvt|maadvt[,...]', help: 'also fine-tune with the paper preset of a defense (or several) and re-evaluate' },
      'defend-epochs': { type: 'string', value: 'N', help: 'epochs of the defense (default 1)' },
      'worst-case': { type: 'string', value: 'cheap|standard|off', help: 'the worst case (PGD-10, APGD, Square) next to PGD for each model (default cheap)' },
      'defend-batches': { type: 'string', value: 'N', help: 'batches an epoch of the defense (default: all)' },
      'memory-budget': { type: 'string', value: 'MiB', help: 'memory budget of every stage (default: what the backend can hold); a step that does not fit fails with a MemoryBudgetError' },
      out: { type: 'string', value: 'dir', help: 'output folder (default runs/paper)' },
      ...HELP,
    },
  },
  merge: {
    summary: 'merge the shard files of a sharded run into the whole test set\'s results',
    usage: 'medrobust merge <shard files or folders...> [--out <base>]',
    details: `Checks that the files are one run's shards (same configuration, each shard exactly once; a missing,
duplicated or differently configured shard is refused, naming it), recomputes every figure from the
per-sample records, and writes merged.json and merged.md beside the shard files (or <base>.json/.md).`,
    options: { out: { type: 'string', value: 'base', help: 'write <base>.json and <base>.md (default: merged.* beside the shards)' }, ...HELP },
  },
  evaluate: {
    summary: 'the worst case of a saved model over an ensemble of attacks (PGD-10, APGD, Square), with sanity checks',
    usage: 'medrobust evaluate --model <dir> --data <file.npz> --epsilon <list> [options]',
    details: `Runs evaluateWorstCase (docs/guides/worst-case.md): each attack on the images still robust, an image
broken when any attack breaks it. Prints clean, PGD-10 and worst-case robust accuracy, the gap, the AUROC under the
worst case, what broke the images, and the warnings of the sanity checks (gradient masking, a stochastic model,
probabilities, accuracy not reaching 0 at a large ε, non-monotone accuracy, black-box attacks beating white-box ones).`,
    options: { ...EVALUATE_OPTIONS, ...HELP },
  },
  benchmark: { summary: 'how to run the speed benchmarks (npm run bench)', usage: 'medrobust benchmark', options: HELP },
  help: { summary: 'help on a command', usage: 'medrobust help [command]', options: HELP },
};

const optionLines = (options: Record<string, OptionSpec>) => {
  const rows = Object.entries(options).map(([name, o]) => [`${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` <${o.value}>` : ''}`, o.help] as const);
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return rows.map(([l, h]) => `  ${l.padEnd(width)}${h}`).join('\n');
};

/** `medrobust --help`. */
export function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 2;
  return `usage: medrobust <command> [options]

commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`).join('\n')}

options:
  -h, --help      help (also: medrobust <command> --help)
  -v, --version   the version of medrobust

Exit codes: 0 done, 1 failed, 2 bad usage or config, 130 interrupted (rerun to resume).
Docs: docs/guides/cli.md`;
}

/** `medrobust <command> --help`. */
export function commandHelp(name: string): string {
  const c = COMMANDS[name]!;
  return `usage: ${c.usage}

${c.summary}.${c.details ? `\n\n${c.details}` : ''}

options:
${optionLines(c.options)}`;
}

/** The closest of `known` to `given` (edit distance at most 2, or a prefix), or undefined. */
export function closest(given: string, known: readonly string[]): string | undefined {
  const g = given.toLowerCase();
  const ranked = known.map((k) => ({ k, d: k.startsWith(g) && g.length >= 2 ? 0.5 : editDistance(k.toLowerCase(), g) })).sort((a, b) => a.d - b.d);
  return ranked[0] && ranked[0].d <= 2 ? ranked[0].k : undefined;
}
