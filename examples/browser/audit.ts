/**
 * The in-browser audit page (`npm run audit-page` builds examples/browser/out/audit.html, one file that works
 * offline): pick a tfjs Layers model and images from disk, choose an attack, ε and a backend, and see clean and
 * adversarial predictions, the amplified perturbation, a saliency map, accuracy against ε and a downloadable
 * report. Nothing is uploaded: the page's Content-Security-Policy allows no network connection at all.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm';
import { evaluateRobustness, fgsm, jetColormap, pgd, saliencyMap, type ModelFn, type Task } from '../../src/index.js';
import { useBackend, type BackendChoice, type BackendName } from '../../src/backend/index.js';

declare const MEDROBUST_VERSION: string;

// The wasm binary travels inside this page; tfjs fetches it from a blob: URL (the only fetch the CSP allows).
const wasmUrl = URL.createObjectURL(new Blob([wasmSimd], { type: 'application/wasm' }));
setWasmPaths({ 'tfjs-backend-wasm.wasm': wasmUrl, 'tfjs-backend-wasm-simd.wasm': wasmUrl, 'tfjs-backend-wasm-threaded-simd.wasm': wasmUrl });

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

interface LoadedModel {
  /** The chosen model.json and weight files, loaded again on the backend of each audit. */
  files: File[];
  name: string;
  inputShape: [number, number, number];
  outputs: number;
  /** What the last layer applies (softmax/sigmoid outputs are turned back into logits). */
  activation: string;
  classNames: string[] | null;
}

interface ImageFile {
  file: File;
  pixels: ImageData;
}

interface ImageResult {
  file: string;
  label: number[] | number;
  clean: { classes: number[]; probability: number };
  adversarial: { classes: number[]; probability: number };
  changed: boolean;
  linf: number;
}

export interface AuditReport {
  tool: string;
  version: string;
  createdAt: string;
  settings: { task: Task; labels: string; pixelRange: [number, number]; attack: string; epsilon: number; epsilon255: number; steps: number | null; seed: number };
  backend: { name: string; tfjsBackend: string; gpu: BackendChoice['gpu'] | null; reason: string };
  model: { name: string; inputShape: number[]; outputs: number; lastActivation: string; classNames: string[] };
  summary: { images: number; cleanAccuracy: number; adversarialAccuracy: number; foolingRate: number; meanLinf: number; maxLinf: number; seconds: number };
  curve: Array<{ epsilon255: number; accuracy: number }>;
  images: ImageResult[];
}

let loaded: LoadedModel | null = null;
let images: ImageFile[] = [];
let lastReport: AuditReport | null = null;

function setStatus(text: string, error = false): void {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('error', error);
}

function refreshButton(): void {
  ($('run') as HTMLButtonElement).disabled = !(loaded && images.length > 0);
  const parts = [loaded ? `Model "${loaded.name}": input ${loaded.inputShape.join('×')}, ${loaded.outputs} outputs (last activation: ${loaded.activation})` : 'No model loaded.'];
  if (images.length) parts.push(`${images.length} image(s).`);
  $('loaded').textContent = parts.join(' · ');
}

/** Reads a tfjs Layers model from the chosen files (model.json first, then its weight files). */
async function readModel(files: File[]): Promise<tfl.LayersModel> {
  const json = files.find((f) => f.name.endsWith('.json'));
  if (!json) throw new Error('no model.json among the chosen files');
  const weights = files.filter((f) => f !== json && !f.name.endsWith('.json'));
  return tfl.loadLayersModel(tf.io.browserFiles([json, ...weights]));
}

/** Checks the chosen model on the cpu backend and remembers what the audit needs to know about it. */
async function inspectModel(files: File[]): Promise<void> {
  loaded = null;
  await tf.setBackend('cpu');
  const model = await readModel(files);
  const json = files.find((f) => f.name.endsWith('.json'))!;
  const shape = model.inputs[0]!.shape;
  if (shape.length !== 4 || shape.slice(1).some((d) => d == null)) throw new Error(`the model must take [batch, height, width, channels] images, not ${JSON.stringify(shape)}`);
  const last = model.layers[model.layers.length - 1]!;
  const activation = String((last.getConfig() as { activation?: string }).activation ?? 'linear');
  const meta = (JSON.parse(await json.text()) as { userDefinedMetadata?: { classNames?: unknown } }).userDefinedMetadata;
  const names = Array.isArray(meta?.classNames) ? meta.classNames.map(String) : null;
  const out = model.outputs[0]!.shape;
  loaded = { files, name: model.name, inputShape: shape.slice(1) as [number, number, number], outputs: out[out.length - 1]!, activation, classNames: names };
  model.dispose();
}

async function decode(file: File): Promise<ImageFile> {
  const bitmap = await createImageBitmap(file);
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return { file, pixels: ctx.getImageData(0, 0, canvas.width, canvas.height) };
}

/** Images as the model's input: resized to its size, grey or RGB, scaled to its pixel range. */
function toTensor(list: ImageFile[], shape: [number, number, number], scale: number): tf.Tensor4D {
  const [h, w, c] = shape;
  return tf.tidy(() => tf.stack(list.map(({ pixels }) => {
    let x = tf.cast(tf.browser.fromPixels(pixels, 3), 'float32') as tf.Tensor3D;
    if (pixels.height !== h || pixels.width !== w) x = tf.image.resizeBilinear(x, [h, w], true);
    if (c === 1) x = tf.mean(x, 2, true) as tf.Tensor3D;
    else if (c !== 3) throw new Error(`the model takes ${c} channels; only 1 (grey) or 3 (RGB) are supported`);
    return tf.mul(x, scale / 255);
  })) as tf.Tensor4D);
}

/** The model as logits: softmax/sigmoid outputs are mapped back (log p; log p/(1-p)) so the attack loss is right. */
function logitsOf(m: LoadedModel, model: tfl.LayersModel): ModelFn {
  return (x) => tf.tidy(() => {
    const out = model.apply(x, { training: false });
    const y = (Array.isArray(out) ? out[0]! : out) as tf.Tensor2D;
    if (m.activation === 'softmax') return tf.log(tf.clipByValue(y, 1e-7, 1)) as tf.Tensor2D;
    if (m.activation === 'sigmoid') {
      const p = tf.clipByValue(y, 1e-7, 1 - 1e-7);
      return tf.sub(tf.log(p), tf.log(tf.sub(1, p))) as tf.Tensor2D;
    }
    return y;
  });
}

function classNames(m: LoadedModel): string[] {
  const typed = ($('class-names') as HTMLInputElement).value.split(',').map((s) => s.trim()).filter(Boolean);
  const base = typed.length ? typed : m.classNames ?? [];
  return Array.from({ length: m.outputs }, (_, i) => base[i] ?? `class ${i}`);
}

/** Labels from a file name: "2_x.png" (index), "melanoma_x.png" (class name), "1+3_x.png" / "none_x.png" (multi-label). */
function labelFromName(name: string, names: string[], task: Task): number | number[] {
  const head = name.split(/[_\-. ]/)[0]!.toLowerCase();
  const one = (token: string): number => {
    if (/^\d+$/.test(token)) return Number(token);
    const i = names.findIndex((n) => n.toLowerCase() === token);
    if (i < 0) throw new Error(`cannot read a label from the file name "${name}" ("${token}" is neither a class index nor one of ${names.join(', ')})`);
    return i;
  };
  if (task === 'single-label') return one(head);
  const row = names.map(() => 0);
  if (head !== 'none' && head !== 'healthy') for (const t of head.split('+')) row[one(t)] = 1;
  return row;
}

function decisions(probs: number[], task: Task): { classes: number[]; probability: number } {
  if (task === 'single-label') {
    const k = probs.indexOf(Math.max(...probs));
    return { classes: [k], probability: probs[k]! };
  }
  const classes = probs.flatMap((p, i) => (p >= 0.5 ? [i] : []));
  return { classes, probability: classes.length ? Math.min(...classes.map((i) => probs[i]!)) : 1 - Math.max(...probs) };
}

const same = (a: number[], b: number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

async function drawImage(data: Float32Array | Uint8Array, h: number, w: number, channels: number, scale: number): Promise<HTMLCanvasElement> {
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const img = canvas.getContext('2d')!.createImageData(w, h);
  for (let p = 0; p < h * w; p++) {
    for (let k = 0; k < 3; k++) img.data[4 * p + k] = Math.round((data[p * channels + (channels === 1 ? 0 : k)]! / scale) * 255);
    img.data[4 * p + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(img, 0, 0);
  return canvas;
}

function describeClasses(classes: number[], names: string[]): string {
  return classes.length ? classes.map((i) => names[i]).join(' + ') : 'no finding';
}

function renderCurve(curve: AuditReport['curve']): void {
  const svg = $('curve') as unknown as SVGSVGElement;
  const W = 420, H = 260, L = 48, B = 36, T = 14, R = 14;
  const maxE = Math.max(...curve.map((p) => p.epsilon255), 1);
  const x = (e: number) => L + ((W - L - R) * e) / maxE;
  const y = (a: number) => T + (H - T - B) * (1 - a);
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const path = curve.map((p, i) => `${i ? 'L' : 'M'}${x(p.epsilon255).toFixed(1)},${y(p.accuracy).toFixed(1)}`).join(' ');
  svg.setAttribute('data-points', JSON.stringify(curve));
  svg.innerHTML = [
    ...ticks.map((t) => `<line x1="${L}" x2="${W - R}" y1="${y(t)}" y2="${y(t)}" stroke="#e3e6eb"/><text x="${L - 6}" y="${y(t) + 4}" font-size="11" text-anchor="end">${t.toFixed(2)}</text>`),
    ...curve.map((p) => `<text x="${x(p.epsilon255)}" y="${H - B + 16}" font-size="11" text-anchor="middle">${+p.epsilon255.toFixed(2)}</text>`),
    `<text x="${(L + W - R) / 2}" y="${H - 4}" font-size="12" text-anchor="middle">ε (grey levels of 255)</text>`,
    `<text x="12" y="${(T + H - B) / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 12 ${(T + H - B) / 2})">accuracy</text>`,
    `<path d="${path}" fill="none" stroke="#1f5fbf" stroke-width="2"/>`,
    ...curve.map((p) => `<circle cx="${x(p.epsilon255)}" cy="${y(p.accuracy)}" r="3.5" fill="#1f5fbf"><title>ε=${p.epsilon255}/255: ${(100 * p.accuracy).toFixed(1)}%</title></circle>`),
  ].join('');
}

function metric(id: string, value: string, caption: string): string {
  return `<div class="metric" id="${id}"><b>${value}</b><span>${caption}</span></div>`;
}

const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;

function markdown(r: AuditReport): string {
  const names = r.model.classNames;
  const lines = [
    `# Adversarial audit of ${r.model.name}`, '',
    `${r.createdAt} · medrobust ${r.version} · backend ${r.backend.name}${r.backend.gpu ? ` (${r.backend.gpu.description})` : ''}`, '',
    `Attack ${r.settings.attack.toUpperCase()}${r.settings.steps ? `-${r.settings.steps}` : ''}, ε = ${r.settings.epsilon255}/255 of the pixel range, seed ${r.settings.seed}; task ${r.settings.task}; labels from ${r.settings.labels}.`, '',
    '| images | clean accuracy | adversarial accuracy | decisions changed | mean L∞ | max L∞ |', '|---:|---:|---:|---:|---:|---:|',
    `| ${r.summary.images} | ${pct(r.summary.cleanAccuracy)} | ${pct(r.summary.adversarialAccuracy)} | ${pct(r.summary.foolingRate)} | ${r.summary.meanLinf.toPrecision(3)} | ${r.summary.maxLinf.toPrecision(3)} |`, '',
    '## Accuracy vs ε', '', '| ε (/255) | accuracy |', '|---:|---:|', ...r.curve.map((p) => `| ${+p.epsilon255.toFixed(3)} | ${pct(p.accuracy)} |`), '',
    '## Images', '', '| file | label | clean | adversarial | changed |', '|---|---|---|---|---|',
    ...r.images.map((i) => `| ${i.file} | ${Array.isArray(i.label) ? describeClasses(i.label.flatMap((v, k) => (v ? [k] : [])), names) : names[i.label]} | ${describeClasses(i.clean.classes, names)} (${i.clean.probability.toFixed(3)}) | ${describeClasses(i.adversarial.classes, names)} (${i.adversarial.probability.toFixed(3)}) | ${i.changed ? 'yes' : 'no'} |`),
  ];
  return lines.join('\n') + '\n';
}

function download(name: string, text: string, type: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
}

async function startBackend(name: string): Promise<BackendChoice> {
  return useBackend(name as BackendName | 'auto', { threads: 1 });
}

async function audit(): Promise<void> {
  const m = loaded!;
  const task = ($('task') as HTMLSelectElement).value as Task;
  const labelSource = ($('labels') as HTMLSelectElement).value;
  const scale = Number(($('range') as HTMLSelectElement).value);
  const attack = ($('attack') as HTMLSelectElement).value as 'pgd' | 'fgsm';
  const epsilon255 = Number(($('epsilon') as HTMLInputElement).value);
  const steps = Math.max(1, Math.round(Number(($('steps') as HTMLInputElement).value)));
  const seed = Math.round(Number(($('seed') as HTMLInputElement).value));
  if (!(epsilon255 > 0)) throw new Error('ε must be a number > 0');
  const epsilon = (epsilon255 / 255) * scale;
  const names = classNames(m);
  setStatus('Starting the backend…');
  const choice = await startBackend(($('backend') as HTMLSelectElement).value);
  const t0 = performance.now();
  const model = await readModel(m.files);
  const fn = logitsOf(m, model);
  const x = toTensor(images, m.inputShape, scale);
  const tensors: tf.Tensor[] = [x];
  try {
    setStatus(`Predicting on ${choice.name}…`);
    const cleanLogits = fn(x);
    tensors.push(cleanLogits);
    const cleanProbs = (await (task === 'single-label' ? tf.softmax(cleanLogits) : tf.sigmoid(cleanLogits)).array()) as number[][];
    const cleanDecisions = cleanProbs.map((p) => decisions(p, task));
    const labelValues: Array<number | number[]> = labelSource === 'filename'
      ? images.map((i) => labelFromName(i.file.name, names, task))
      : cleanDecisions.map((d) => (task === 'single-label' ? d.classes[0]! : names.map((_, k) => (d.classes.includes(k) ? 1 : 0))));
    const labels = task === 'single-label' ? tf.tensor1d(labelValues as number[], 'int32') : tf.tensor2d(labelValues as number[][]);
    tensors.push(labels);
    const clip: [number, number] = [0, scale];
    setStatus(`Attacking with ${attack.toUpperCase()} on ${choice.name}…`);
    const adv = attack === 'fgsm'
      ? fgsm(fn, x, labels, { epsilon, clip, task })
      : pgd(fn, x, labels, { epsilon, steps, seed, clip, task });
    tensors.push(adv);
    const advLogits = fn(adv);
    tensors.push(advLogits);
    const advProbs = (await (task === 'single-label' ? tf.softmax(advLogits) : tf.sigmoid(advLogits)).array()) as number[][];
    const advDecisions = advProbs.map((p) => decisions(p, task));
    const delta = tf.sub(adv, x);
    tensors.push(delta);
    const linf = Array.from(await tf.max(tf.abs(delta), [1, 2, 3]).data());
    setStatus('Saliency maps…');
    const saliency = saliencyMap(fn, x, { classIndex: cleanDecisions.map((d) => d.classes[0] ?? 0) });
    tensors.push(saliency);
    setStatus('Accuracy against ε…');
    const fractions = [0.25, 0.5, 1, 2];
    const epsilons = fractions.map((f) => f * epsilon);
    const robustness = await evaluateRobustness(fn, [{ images: x, labels }], [
      attack === 'pgd' ? { name: 'PGD', attack: 'pgd', epsilons, options: { steps, clip } } : { name: 'FGSM', attack: 'fgsm', epsilons, options: { clip } },
    ], { seed, task });
    const curve = [{ epsilon255: 0, accuracy: robustness.clean.accuracy }, ...robustness.rows.map((r, i) => ({ epsilon255: fractions[i]! * epsilon255, accuracy: r.accuracy }))];
    const seconds = (performance.now() - t0) / 1000;

    const truth = labelValues.map((l) => (Array.isArray(l) ? l.flatMap((v, k) => (v ? [k] : [])) : [l]));
    const results: ImageResult[] = images.map((img, i) => ({
      file: img.file.name,
      label: labelValues[i]!,
      clean: cleanDecisions[i]!,
      adversarial: advDecisions[i]!,
      changed: !same(cleanDecisions[i]!.classes, advDecisions[i]!.classes),
      linf: linf[i]!,
    }));
    const accuracyOf = (d: Array<{ classes: number[] }>) => d.filter((v, i) => same(v.classes, truth[i]!)).length / d.length;
    lastReport = {
      tool: 'medrobust audit page',
      version: typeof MEDROBUST_VERSION === 'string' ? MEDROBUST_VERSION : 'dev',
      createdAt: new Date().toISOString(),
      settings: { task, labels: labelSource === 'filename' ? 'file names' : "the model's clean prediction", pixelRange: clip, attack, epsilon, epsilon255, steps: attack === 'pgd' ? steps : null, seed },
      backend: { name: choice.name, tfjsBackend: choice.tfjsBackend, gpu: choice.gpu ?? null, reason: choice.reason },
      model: { name: m.name, inputShape: m.inputShape, outputs: m.outputs, lastActivation: m.activation, classNames: names },
      summary: {
        images: images.length,
        cleanAccuracy: accuracyOf(cleanDecisions),
        adversarialAccuracy: accuracyOf(advDecisions),
        foolingRate: results.filter((r) => r.changed).length / results.length,
        meanLinf: linf.reduce((a, b) => a + b, 0) / linf.length,
        maxLinf: Math.max(...linf),
        seconds,
      },
      curve,
      images: results,
    };

    // Pictures: clean, adversarial, amplified perturbation (±ε → black..white), saliency (jet).
    const [h, w, c] = m.inputShape;
    const cleanPx = await x.data() as Float32Array;
    const advPx = await adv.data() as Float32Array;
    const deltaPx = await tf.tidy(() => tf.clipByValue(tf.add(0.5, tf.div(delta, 2 * epsilon)), 0, 1)).data() as Float32Array;
    const salPx = await saliency.data() as Float32Array;
    const body = ($('results') as HTMLTableElement).tBodies[0]!;
    body.innerHTML = '';
    const per = h * w * c;
    for (let i = 0; i < images.length; i++) {
      const r = results[i]!;
      const tr = document.createElement('tr');
      tr.dataset.file = r.file;
      tr.dataset.cleanClasses = r.clean.classes.join(',');
      tr.dataset.advClasses = r.adversarial.classes.join(',');
      const cell = (content: string | HTMLElement, cls?: string) => {
        const td = document.createElement('td');
        if (typeof content === 'string') td.textContent = content;
        else td.appendChild(content);
        if (cls) td.className = cls;
        tr.appendChild(td);
      };
      cell(r.file);
      cell(describeClasses(truth[i]!, names));
      cell(await drawImage(cleanPx.subarray(i * per, (i + 1) * per), h, w, c, scale));
      cell(`${describeClasses(r.clean.classes, names)} (${r.clean.probability.toFixed(3)})`);
      cell(await drawImage(advPx.subarray(i * per, (i + 1) * per), h, w, c, scale));
      cell(`${describeClasses(r.adversarial.classes, names)} (${r.adversarial.probability.toFixed(3)})`, r.changed ? 'changed' : undefined);
      cell(await drawImage(deltaPx.subarray(i * per, (i + 1) * per), h, w, c, 1));
      cell(await drawImage(jetColormap(salPx.subarray(i * h * w, (i + 1) * h * w)), h, w, 3, 255));
      body.appendChild(tr);
    }
    const s = lastReport.summary;
    const summary = $('summary');
    summary.innerHTML = [
      metric('m-images', String(s.images), 'images'),
      metric('m-clean', pct(s.cleanAccuracy), 'clean accuracy'),
      metric('m-adv', pct(s.adversarialAccuracy), `accuracy under ${attack.toUpperCase()}${attack === 'pgd' ? `-${steps}` : ''}, ε=${epsilon255}/255`),
      metric('m-fooled', pct(s.foolingRate), 'decisions changed by the attack'),
      metric('m-linf', (s.maxLinf / scale * 255).toFixed(2), 'largest change, grey levels'),
    ].join('');
    summary.dataset.cleanAccuracy = String(s.cleanAccuracy);
    summary.dataset.adversarialAccuracy = String(s.adversarialAccuracy);
    summary.dataset.foolingRate = String(s.foolingRate);
    renderCurve(curve);
    $('environment').textContent = `Backend: ${choice.name}${choice.gpu ? ` on ${choice.gpu.description}${choice.gpu.software ? ' (software)' : ''}` : ''} — ${choice.reason}.`;
    $('output').classList.remove('hidden');
    setStatus(`Done in ${seconds.toFixed(1)} s on ${choice.name}.`);
  } finally {
    tf.dispose(tensors);
    model.dispose();
  }
}

function wire(): void {
  const onModel = (input: HTMLInputElement) => input.addEventListener('change', () => {
    const files = Array.from(input.files ?? []);
    if (!files.length) return;
    setStatus('Loading the model…');
    inspectModel(files).then(() => { setStatus('Model loaded.'); refreshButton(); }).catch((err: Error) => { setStatus(`Could not load the model: ${err.message}`, true); refreshButton(); });
  });
  onModel($('model-folder'));
  onModel($('model-files'));
  $('images').addEventListener('change', () => {
    const files = Array.from(($('images') as HTMLInputElement).files ?? []).filter((f) => f.type.startsWith('image/') || /\.(png|jpe?g|bmp|gif|webp)$/i.test(f.name));
    files.sort((a, b) => a.name.localeCompare(b.name));
    Promise.all(files.map(decode)).then((list) => { images = list; setStatus(`${list.length} image(s) read.`); refreshButton(); })
      .catch((err: Error) => setStatus(`Could not read an image: ${err.message}`, true));
  });
  $('run').addEventListener('click', () => {
    ($('run') as HTMLButtonElement).disabled = true;
    audit().catch((err: Error) => setStatus(`The audit failed: ${err.message}`, true)).finally(refreshButton);
  });
  $('download-json').addEventListener('click', () => lastReport && download('medrobust-audit.json', JSON.stringify(lastReport, null, 2), 'application/json'));
  $('download-md').addEventListener('click', () => lastReport && download('medrobust-audit.md', markdown(lastReport), 'text/markdown'));
  (window as unknown as { medrobustAudit: unknown }).medrobustAudit = { ready: true, report: () => lastReport };
}

wire();
