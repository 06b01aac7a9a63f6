import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { FormatError, InvalidArgumentError, MedrobustError } from '../errors.js';
import { createRng, drawSeed } from '../internal/random.js';
import { assertBoolean, assertKnownKeys, assertNumber, assertOptionalNumber, assertOptionsObject, describeValue } from '../internal/validate.js';
import type { Task } from '../types.js';
import { epochSource, mixSeed, permutation, type EpochBatchSource } from '../data/batchesFromTensors.js';
import { chestXray14Rows, labelCsvRows } from '../data/labelFiles.js';
import { assertPath, fileError } from './fileErrors.js';
import { assertPreprocessSpec, preprocess, type PreprocessSpec } from '../data/preprocess.js';
// Imported for the {@link} references of the comments only.
import type { parseLabelCsv } from '../data/labelFiles.js';
import type { FileError } from '../errors.js';
import { entryAsync } from '../internal/scope.js';

type SharpFactory = typeof import('sharp');

let sharpPromise: Promise<SharpFactory> | undefined;

/** Imports sharp on first use: it is an optional dependency. */
async function loadSharp(): Promise<SharpFactory> {
  sharpPromise ??= import('sharp').then(
    (m) => ((m as unknown as { default?: SharpFactory }).default ?? (m as unknown as SharpFactory)),
    (err: unknown) => {
      sharpPromise = undefined;
      throw new MedrobustError(`medrobust/node: decoding images needs the optional dependency 'sharp', which could not be loaded (${(err as Error).message}); install it with \`npm install sharp\``);
    },
  );
  return sharpPromise;
}

/**
 * Options of {@link decodeImage}.
 * @category Node
 */
export interface DecodeImageOptions {
  /**
   * Geometric steps run in the decoder (libvips, linear kernel): `ratioCenterCrop`, `resize` or
   * `resizeShorter`, and `centerCrop`. Random steps are rejected here (use an
   * {@link ImageFileDataset}'s batches, which apply them per image with a seed).
   * @defaultValue none (the image at its own size)
   */
  preprocess?: PreprocessSpec;
  /**
   * Output channels: 3 (RGB; gray images are repeated) or 1 (gray; colour images are converted).
   * @defaultValue 3
   */
  channels?: 1 | 3;
}

const GEOMETRIC = ['ratioCenterCrop', 'resize', 'resizeShorter', 'centerCrop'];

/** Decodes one image with the geometric prefix of `spec`; returns raw uint8 pixels. */
async function decodeRaw(fn: string, source: string | Uint8Array, spec: PreprocessSpec, channels: 1 | 3): Promise<{ data: Uint8Array; height: number; width: number }> {
  const sharp = await loadSharp();
  const name = typeof source === 'string' ? source : 'the image bytes';
  let input: Uint8Array;
  if (typeof source === 'string') {
    try { input = await fs.readFile(source); } catch (err) { throw fileError(fn, source, err, 'the image'); }
  } else {
    input = source;
  }
  try {
    const oriented = await sharp(input, { failOn: 'error' }).rotate().toBuffer({ resolveWithObject: true });
    let h = oriented.info.height;
    let w = oriented.info.width;
    let img = sharp(oriented.data, { failOn: 'error' });
    if (spec.ratioCenterCrop !== undefined) {
      const side = Math.max(1, Math.round(spec.ratioCenterCrop * Math.min(h, w)));
      img = img.extract({ left: Math.floor((w - side) / 2), top: Math.floor((h - side) / 2), width: side, height: side });
      h = w = side;
    }
    if (spec.resize !== undefined || spec.resizeShorter !== undefined) {
      if (spec.resize !== undefined) [h, w] = typeof spec.resize === 'number' ? [spec.resize, spec.resize] : [spec.resize[0], spec.resize[1]];
      else {
        const s = spec.resizeShorter!;
        [h, w] = h <= w ? [s, Math.floor((s * w) / h)] : [Math.floor((s * h) / w), s];
      }
      img = img.resize(w, h, { fit: 'fill', kernel: 'linear' });
    }
    if (spec.centerCrop !== undefined) {
      const c = spec.centerCrop;
      if (c > h || c > w) throw new InvalidArgumentError(fn, 'options.preprocess.centerCrop', `at most the resized size ${h}×${w}`, String(c));
      img = img.extract({ left: Math.floor((w - c) / 2), top: Math.floor((h - c) / 2), width: c, height: c });
    }
    img = img.removeAlpha();
    img = channels === 1 ? img.toColourspace('b-w') : img.toColourspace('srgb');
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== channels) throw new FormatError(`${fn}: ${name} decoded to ${info.channels} channels, expected ${channels}`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), height: info.height, width: info.width };
  } catch (err) {
    if (err instanceof MedrobustError) throw err;
    throw new FormatError(`${fn}: cannot decode ${name}: ${(err as Error).message}`);
  }
}

function assertDecodeOptions(fn: string, options: unknown): { spec: PreprocessSpec; channels: 1 | 3 } {
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['preprocess', 'channels']);
  const spec = o.preprocess === undefined ? {} : assertPreprocessSpec(fn, 'options.preprocess', o.preprocess);
  const channels = o.channels ?? 3;
  if (channels !== 1 && channels !== 3) throw new InvalidArgumentError(fn, 'options.channels', '1 or 3', describeValue(channels));
  return { spec, channels };
}

/**
 * Decodes an image file (JPEG, PNG, TIFF, WebP, ...; EXIF orientation applied) with sharp, the
 * maintained libvips binding (an optional dependency, imported on first use).
 *
 * @param source - a file path or the file's bytes.
 * @param options - see {@link DecodeImageOptions}.
 * @returns float32 `[H, W, channels]` in [0, 1], owned by the caller.
 * @throws {InvalidArgumentError} for a bad source or option, or random steps in the spec.
 * @throws {FileError} when the file cannot be read (missing, a folder, no permission).
 * @throws {FormatError} when the bytes cannot be decoded (the message names the file).
 * @throws {MedrobustError} when sharp is not installed.
 *
 * @example
 * ```ts
 * const x = await decodeImage('ISIC_0000000.jpg', { preprocess: PAPER_PRESETS.isic2016.test }); // [224, 224, 3]
 * ```
 * @category Node
 */
export async function decodeImage(source: string | Uint8Array, options: DecodeImageOptions = {}): Promise<tf.Tensor3D> {
  return entryAsync('decodeImage', async () => {
    if (typeof source !== 'string' && !(source instanceof Uint8Array)) throw new InvalidArgumentError('decodeImage', 'source', 'a file path or a Uint8Array', describeValue(source));
    if (typeof source === 'string') assertPath('decodeImage', 'source', source, 'a file path or a Uint8Array');
    const { spec, channels } = assertDecodeOptions('decodeImage', options);
    const random = Object.keys(spec).filter((k) => !GEOMETRIC.includes(k) && (spec as Record<string, unknown>)[k] !== undefined && (spec as Record<string, unknown>)[k] !== false);
    if (random.length > 0) throw new InvalidArgumentError('decodeImage', 'options.preprocess', `only ${GEOMETRIC.join(', ')} (random steps need a seed: use dataset.batches)`, random.join(', '));
    const { data, height, width } = await decodeRaw('decodeImage', source, spec, channels);
    return tf.tidy(() => tf.div(tf.tensor3d(Float32Array.from(data), [height, width, channels], 'float32'), 255) as tf.Tensor3D);
  });
}

/**
 * One image file of an {@link ImageFileDataset} and its label.
 * @category Node
 */
export interface ImageItem {
  /** The image's path. */
  readonly file: string;
  /** A class index (single-label) or a multi-hot row (multi-label). */
  readonly label: number | readonly number[];
}

/**
 * Options of {@link ImageFileDataset.batches}.
 * @category Node
 */
export interface ImageBatchesOptions {
  /**
   * Images per batch (decoded concurrently; only one batch is in memory at a time).
   * @defaultValue 32
   */
  batchSize?: number;
  /**
   * A fresh random order on each pass.
   * @defaultValue false
   */
  shuffle?: boolean;
  /**
   * Seed of the order and of the random preprocessing steps (epoch k, or the k-th plain pass, uses its own stream).
   * @defaultValue drawn at random
   */
  seed?: number;
  /**
   * The pipeline, e.g. `PAPER_PRESETS.isic2016.train`. Geometric steps run in the decoder, random
   * steps on the decoded batch; every image must reach the same size (use resize or a crop).
   * @defaultValue none
   */
  preprocess?: PreprocessSpec;
  /**
   * Output channels (1 or 3).
   * @defaultValue 3
   */
  channels?: 1 | 3;
  /**
   * Skip a last, smaller batch.
   * @defaultValue false
   */
  dropRemainder?: boolean;
}

/**
 * Labelled image files on disk, decoded lazily: a data set too large for memory (112k X-rays)
 * streams through {@link ImageFileDataset.batches}, one batch at a time.
 * @category Node
 */
export interface ImageFileDataset {
  /** The files and labels, in a fixed order. */
  readonly items: readonly ImageItem[];
  /** Whether labels are class indices or multi-hot rows. */
  readonly task: Task;
  /** The class (or finding) names, in label order. */
  readonly classNames: readonly string[];
  /**
   * A re-iterable batch source over the files: each pass decodes batchSize images at a
   * time and yields `{ images [B, H, W, C] float32 in [0, 1], labels }`; the consumer disposes each batch.
   * It is an {@link EpochBatchSource}: the training loops call it with the epoch, so an epoch's order and
   * random preprocessing depend only on (seed, epoch), and a resumed run sees the batches of an uninterrupted one.
   */
  batches(options?: ImageBatchesOptions): EpochBatchSource;
}

function makeDataset(items: ImageItem[], task: Task, classNames: readonly string[]): ImageFileDataset {
  const k = classNames.length;
  return {
    items,
    task,
    classNames,
    batches(options: ImageBatchesOptions = {}): EpochBatchSource {
      const fn = 'ImageFileDataset.batches';
      const o = assertOptionsObject(fn, options);
      assertKnownKeys(fn, o, ['batchSize', 'shuffle', 'seed', 'preprocess', 'channels', 'dropRemainder']);
      const batchSize = assertNumber(fn, 'options.batchSize', o.batchSize ?? 32, { min: 1, integer: true });
      const shuffle = assertBoolean(fn, 'options.shuffle', o.shuffle) ?? false;
      const seed = assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true }) ?? drawSeed();
      const dropRemainder = assertBoolean(fn, 'options.dropRemainder', o.dropRemainder) ?? false;
      const { spec, channels } = assertDecodeOptions(fn, { preprocess: o.preprocess, channels: o.channels });
      const geometric: PreprocessSpec = { ratioCenterCrop: spec.ratioCenterCrop, resize: spec.resize, resizeShorter: spec.resizeShorter, centerCrop: spec.centerCrop };
      const random: PreprocessSpec = { randomCrop: spec.randomCrop, rotate90: spec.rotate90, rotation: spec.rotation, horizontalFlip: spec.horizontalFlip, verticalFlip: spec.verticalFlip };
      const hasRandom = Object.values(random).some((v) => v !== undefined && v !== false && v !== 0);
      return epochSource(fn, async function* (epoch) {
        const passSeed = mixSeed(seed, epoch);
        const n = items.length;
        const order = shuffle ? permutation(n, passSeed) : Int32Array.from({ length: n }, (_, i) => i);
        const rng = createRng(passSeed ^ 0x2545f491);
        for (let start = 0; start < n; start += batchSize) {
          const size = Math.min(batchSize, n - start);
          if (size < batchSize && dropRemainder) break;
          const chosen = Array.from(order.subarray(start, start + size), (i) => items[i]!);
          const decoded = await Promise.all(chosen.map((it) => decodeRaw(fn, it.file, geometric, channels)));
          const { height, width } = decoded[0]!;
          const odd = decoded.findIndex((d) => d.height !== height || d.width !== width);
          if (odd >= 0) throw new FormatError(`${fn}: ${chosen[odd]!.file} decodes to ${decoded[odd]!.height}×${decoded[odd]!.width}, ${chosen[0]!.file} to ${height}×${width}; add resize or a crop to options.preprocess`);
          const pixels = new Float32Array(size * height * width * channels);
          decoded.forEach((d, i) => { for (let j = 0; j < d.data.length; j++) pixels[i * d.data.length + j] = d.data[j]! / 255; });
          let images = tf.tensor4d(pixels, [size, height, width, channels], 'float32');
          if (hasRandom) {
            const raw = images;
            try { images = preprocess(raw, random, { seed: rng.nextSeed() }); } finally { raw.dispose(); }
          }
          const labels = task === 'multi-label'
            ? tf.tensor2d(Float32Array.from(chosen.flatMap((it) => it.label as number[])), [size, k], 'float32')
            : tf.tensor1d(Int32Array.from(chosen, (it) => it.label as number), 'int32');
          yield { images, labels };
        }
      });
    },
  };
}

const IMAGE_EXT = ['.jpg', '.jpeg', '.png', '.tif', '.tiff', '.bmp', '.webp', '.gif'];

function assertDir(fn: string, argument: string, p: unknown): string {
  return assertPath(fn, argument, p, 'a path');
}

/**
 * A data set of class folders, as torchvision's `ImageFolder` reads them: `root/<class>/<image>`,
 * classes sorted by name (index = position), files sorted. The paper's ISIC 2016 layout
 * (`Train/{benign,malignant}`) and Messidor layout (`train/{0,1,2,3}`) are of this form
 * (paper.md §2.1–2.2).
 *
 * @param root - the folder holding one subfolder per class.
 * @returns the data set (files are listed now, decoded only when batches are drawn).
 * @throws {InvalidArgumentError} for a bad path.
 * @throws {FileError} when the folder or a class folder cannot be read.
 * @throws {FormatError} when it holds no class folder with images.
 *
 * @example
 * ```ts
 * const isic = await imageFolder('data_2016/Test');
 * for await (const b of isic.batches({ batchSize: 16, preprocess: PAPER_PRESETS.isic2016.test })) { ...; tf.dispose([b.images, b.labels]); }
 * ```
 * @category Node
 */
export async function imageFolder(root: string): Promise<ImageFileDataset> {
  assertDir('imageFolder', 'root', root);
  let entries;
  try {
    entries = await fs.readdir(root, { withFileTypes: true });
  } catch (err) {
    throw fileError('imageFolder', root, err, 'the image folder');
  }
  const classNames = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  const items: ImageItem[] = [];
  for (const [label, name] of classNames.entries()) {
    let listed: string[];
    try { listed = await fs.readdir(path.join(root, name)); } catch (err) { throw fileError('imageFolder', path.join(root, name), err, 'the class folder'); }
    const files = listed.filter((f) => IMAGE_EXT.includes(path.extname(f).toLowerCase())).sort();
    for (const f of files) items.push({ file: path.join(root, name, f), label });
  }
  if (items.length === 0) throw new FormatError(`imageFolder: ${root} holds no class folders with images (${IMAGE_EXT.join(', ')})`);
  return makeDataset(items, 'single-label', classNames);
}

/**
 * Options of {@link labelCsvDataset}.
 * @category Node
 */
export interface LabelCsvDatasetOptions {
  /**
   * Class names that word labels refer to.
   * @defaultValue ['benign', 'malignant'] (ISIC 2016)
   */
  classNames?: readonly string[];
  /**
   * Appended to image ids that have no extension (ISIC ground truth lists `ISIC_0000000`).
   * @defaultValue '.jpg'
   */
  extension?: string;
}

/**
 * A single-label data set from a two-column CSV and an image folder, e.g. the ISIC 2016 ground
 * truth (`ISIC_0000000,benign` or `ISIC_0000003,0.0`; paper.md §2.1). See {@link parseLabelCsv}.
 *
 * @param csvFile - the CSV.
 * @param imageDir - the folder the image ids are relative to.
 * @param options - see {@link LabelCsvDatasetOptions}.
 * @returns the data set.
 * @throws {InvalidArgumentError} for a bad path or option.
 * @throws {FileError} when the CSV cannot be read.
 * @throws {FormatError} for a malformed CSV.
 *
 * @example
 * ```ts
 * const test = await labelCsvDataset('ISBI2016_ISIC_Part3_Test_GroundTruth.csv', 'ISBI2016_ISIC_Part3_Test_Data');
 * ```
 * @category Node
 */
export async function labelCsvDataset(csvFile: string, imageDir: string, options: LabelCsvDatasetOptions = {}): Promise<ImageFileDataset> {
  const fn = 'labelCsvDataset';
  assertDir(fn, 'csvFile', csvFile);
  assertDir(fn, 'imageDir', imageDir);
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['classNames', 'extension']);
  const extension = o.extension ?? '.jpg';
  if (typeof extension !== 'string') throw new InvalidArgumentError(fn, 'options.extension', 'a string such as .jpg', describeValue(extension));
  const classNames = (o.classNames ?? ['benign', 'malignant']) as readonly string[];
  if (!Array.isArray(classNames) || classNames.length < 1 || classNames.some((n) => typeof n !== 'string' || n.length === 0)) {
    throw new InvalidArgumentError(fn, 'options.classNames', 'a non-empty array of class names', describeValue(o.classNames));
  }
  let text: string;
  try { text = await fs.readFile(csvFile, 'utf8'); } catch (err) { throw fileError(fn, csvFile, err, 'the label CSV'); }
  const rows = labelCsvRows(fn, text, classNames, `${csvFile} `);
  const items = rows.map((r) => ({ file: path.join(imageDir, path.extname(r.file) ? r.file : r.file + extension), label: r.label }));
  return makeDataset(items, 'single-label', classNames);
}

/** The 14 ChestX-ray14 findings in CheXNet's order (paper.md §2.3). */
const CHESTX14 = ['Atelectasis', 'Cardiomegaly', 'Effusion', 'Infiltration', 'Mass', 'Nodule', 'Pneumonia', 'Pneumothorax', 'Consolidation', 'Edema', 'Emphysema', 'Fibrosis', 'Pleural_Thickening', 'Hernia'];

/**
 * The ChestX-ray14 data set as the paper reads it (paper.md §2.3): a CheXNet label list
 * (`labels/test_list.txt`: `file 0 1 0 ...`) and the image folder. Multi-label, 14 findings in
 * CheXNet order. Images are decoded lazily, so the 112,120 X-rays stream batch by batch.
 *
 * @param listFile - the label list.
 * @param imageDir - the image folder (e.g. `images/`).
 * @returns the data set.
 * @throws {InvalidArgumentError} for a bad path.
 * @throws {FileError} when the list cannot be read.
 * @throws {FormatError} for a list whose rows do not have 14 labels.
 *
 * @example
 * ```ts
 * const test = await chestXray14('labels/test_list.txt', 'images');
 * const source = test.batches({ batchSize: 16, preprocess: PAPER_PRESETS.chestXray14.test });
 * ```
 * @category Node
 */
export async function chestXray14(listFile: string, imageDir: string): Promise<ImageFileDataset> {
  assertDir('chestXray14', 'listFile', listFile);
  assertDir('chestXray14', 'imageDir', imageDir);
  let text: string;
  try { text = await fs.readFile(listFile, 'utf8'); } catch (err) { throw fileError('chestXray14', listFile, err, 'the label list'); }
  const rows = chestXray14Rows('chestXray14', text, `${listFile} `);
  const bad = rows.find((r) => (r.label as number[]).length !== CHESTX14.length);
  if (bad) throw new FormatError(`chestXray14: ${listFile} has rows with ${(bad.label as number[]).length} labels; ChestX-ray14 has ${CHESTX14.length}`);
  return makeDataset(rows.map((r) => ({ file: path.join(imageDir, r.file), label: r.label })), 'multi-label', CHESTX14);
}
