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

const RESUME_NOTE = `Ctrl-C stops at the next batch, keeping finished stages and a checkpoint (exit code 130); rerunning
the same command resumes. A rerun whose config differs from the run folder's is refused with the list of
changes, unless --fresh or --redo-changed is given.`;

export const COMMANDS: Record<string, CommandSpec> = {
  demo: {
    summary: 'train, attack (FGSM, PGD, GAP), analyse, defend (PGD-AT, MPAdvT, MAAdvT) and report on generated lesion and chest data',
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
unknown keys are errors. ${RESUME_NOTE}`,
    options: RUN_OPTIONS,
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
      analyze: { type: 'boolean', help: 'also run the analyses (discriminability, label co-occurrence)' },
      defend: { type: 'string', value: 'pgd-at|mpadvt|maadvt', help: 'also fine-tune with a defense and re-evaluate' },
      'defend-epochs': { type: 'string', value: 'N', help: 'epochs of the defense (default 1)' },
      out: { type: 'string', value: 'dir', help: 'output folder (default runs/paper)' },
      ...HELP,
    },
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
