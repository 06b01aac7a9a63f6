/** Writes report.md, results.json, CSV tables and SVG/PNG plots of a run. @internal */
import { join } from 'node:path';
import { writeFileAtomic } from '../../node/atomic.js';
import { lineChartSpec, type VegaLiteSpec } from '../../report/plots.js';
import { markdownTable, toCsv, type Row } from '../../report/tables.js';
import { renderSvg, svgToPng } from '../render.js';
import type { AnalysisResult } from './analyze.js';
import type { AttackRow } from './attack.js';
import type { StageContext } from './context.js';
import type { DefenseRow } from './defend.js';

/** One stage's time, as measured by the run(s) that computed it. */
export interface TimingRow {
  step: string;
  seconds: number;
  backend: string;
  /** 'this run', 'this run (resumed)' or 'earlier run'. */
  computed: string;
}

export interface RunResults {
  backend: { name: string; reason: string; threads: number | undefined };
  timings: TimingRow[];
  attacks: AttackRow[];
  defenses: DefenseRow[];
  analyses: AnalysisResult[];
  /** Training summaries (epochs counted from 1). */
  training: { task: string; defense: string; epochs: number; bestEpoch: number | null; lastLoss: number | undefined }[];
}

/** Renders a spec to `<dir>/plots/<name>.svg` and `.png`; returns the relative SVG path. */
export async function writePlot(dir: string, name: string, spec: VegaLiteSpec): Promise<string> {
  const svg = await renderSvg(spec);
  await writeFileAtomic(join(dir, 'plots', `${name}.svg`), svg);
  await writeFileAtomic(join(dir, 'plots', `${name}.png`), await svgToPng(svg));
  return `plots/${name}.png`;
}

/** A stage key as a reader would name it: `defend.lesion.pgd-at.train` → `defend lesion pgd-at (training)`. */
export function stepLabel(key: string): string {
  const [stage, task, method, sub] = key.split('.');
  if (stage !== 'defend') return `${stage} ${task}`;
  if (method === 'none') return `defend ${task}: undefended model (evaluation)`;
  return `defend ${task} ${method} (${sub === 'train' ? 'training' : 'evaluation'})`;
}

const pct = (rows: readonly Row[]) => rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'number' && ['accuracy', 'auc', 'foolingRate', 'worstCase', 'gap'].includes(k) ? Number(v.toFixed(4)) : v])));

export async function writeReport(results: RunResults, ctx: StageContext): Promise<string> {
  const { dir, config } = ctx;
  const lines: string[] = [
    `# medrobust report: ${config.name}`,
    '',
    `Backend: **${results.backend.name}** (${results.backend.reason}${results.backend.threads ? `, ${results.backend.threads} threads` : ''}). Seed ${config.seed}.`,
    `Data: ${config.data.medmnist ? `MedMNIST files (${Object.entries(config.data.medmnist).map(([k, v]) => `${k}: ${v}`).join(', ')}), first` : `generated ${config.data.size}×${config.data.size} sets,`} train ${config.data.train}, validation ${config.data.validation}, test ${config.data.test} images; model: small CNN (width ${config.model.width}).`,
    'ε and GAP magnitudes are in 1/255 pixel units; images are in [0, 1]. Single-label ACC is top-1 accuracy; multi-label ACC is the mean per-label accuracy at threshold 0.5; AUC is the macro ROC AUC of probabilities; FR is the fooling rate (paper §5a).',
    '',
    '## Timing',
    '',
    'Each stage\'s time as measured by the run that computed it (a stage finished after an interruption adds the interrupted run\'s share; one cut short by kill -9 counts only the resumed part).',
    '',
    markdownTable(results.timings.map((r) => ({ ...r, step: stepLabel(r.step) })), { digits: 1, columns: ['step', 'seconds', 'backend', 'computed'] }),
    '',
  ];
  await writeFileAtomic(join(dir, 'tables', 'attacks.csv'), toCsv(results.attacks as unknown as Row[]));
  await writeFileAtomic(join(dir, 'tables', 'defenses.csv'), toCsv(results.defenses as unknown as Row[]));
  for (const task of config.tasks) {
    const rows = results.attacks.filter((r) => r.task === task);
    if (rows.length === 0) continue;
    lines.push(`## Attacks on the undefended ${task} model`, '', markdownTable(pct(rows as unknown as Row[]), { columns: ['attack', 'epsilon', 'accuracy', 'auc', 'foolingRate', 'linf'] }), '');
    const clean = rows.find((r) => r.attack === 'none');
    const curve = rows.filter((r) => r.attack !== 'gap').flatMap((r) => (r.attack === 'none' ? [{ ...r, attack: 'fgsm' }, { ...r, attack: 'pgd' }] : [r]));
    const gapRows = clean ? [{ ...clean, attack: 'gap' }, ...rows.filter((r) => r.attack === 'gap')] : [];
    const acc = await writePlot(dir, `accuracy-vs-epsilon-${task}`, lineChartSpec([...curve, ...gapRows] as unknown as Row[], { x: 'epsilon', y: 'accuracy', color: 'attack', title: `${task}: accuracy under attack`, xTitle: 'ε (1/255)' }));
    const auc = await writePlot(dir, `auc-vs-epsilon-${task}`, lineChartSpec([...curve, ...gapRows] as unknown as Row[], { x: 'epsilon', y: 'auc', color: 'attack', title: `${task}: ROC AUC under attack`, xTitle: 'ε (1/255)' }));
    lines.push(`![accuracy vs ε](${acc}) ![AUC vs ε](${auc})`, '');
  }
  for (const task of config.defenses.tasks) {
    const rows = results.defenses.filter((r) => r.task === task);
    if (rows.length === 0) continue;
    const worst = rows.some((r) => r.worstCase !== undefined);
    lines.push(`## Defenses on ${task} (PGD-${config.attacks.pgdSteps} evaluation; ε = 0 is clean)`, '', markdownTable(pct(rows as unknown as Row[]), { columns: ['defense', 'epsilon', 'accuracy', 'auc', ...(worst ? ['worstCase', 'gap'] : [])] }), '');
    if (worst) lines.push(`worstCase: accuracy when each image is attacked by this PGD-${config.attacks.pgdSteps} run and then, if still correct, by APGD-CE and APGD on the DLR or margin loss (20 steps each; evaluateWorstCase, docs/guides/worst-case.md); gap = PGD-${config.attacks.pgdSteps} accuracy − worstCase, how much PGD alone over-states robustness.`, '');
    const best = results.training.filter((r) => r.task === task && r.defense !== 'none');
    if (best.length > 0) lines.push(`Each defense fine-tunes the undefended model for ${config.defenses.epochs} epoch(s) at ε = ${config.defenses.epsilon}/255 and keeps the epoch with the best robust validation accuracy: ${best.map((r) => `${r.defense} epoch ${r.bestEpoch ?? '-'}`).join(', ')} (epochs counted from 1).`, '');
    const plot = await writePlot(dir, `defenses-${task}`, lineChartSpec(rows as unknown as Row[], { x: 'epsilon', y: 'accuracy', color: 'defense', title: `${task}: robust accuracy by defense`, xTitle: 'PGD ε (1/255)' }));
    lines.push(`![robust accuracy by defense](${plot})`, '');
  }
  for (const a of results.analyses) lines.push(...a.markdown, '');
  const seconds = Object.fromEntries(results.timings.map((r) => [r.step, r.seconds]));
  await writeFileAtomic(join(dir, 'results.json'), JSON.stringify({ config, ...results, seconds }, null, 1));
  const report = join(dir, 'report.md');
  await writeFileAtomic(report, lines.join('\n'));
  return report;
}
