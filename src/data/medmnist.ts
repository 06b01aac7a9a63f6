import * as tf from '@tensorflow/tfjs-core';
import { FormatError, InvalidArgumentError } from '../errors.js';
import { assertKnownKeys, assertOneOf, assertOptionsObject, describeValue } from '../internal/validate.js';
import type { Task } from '../types.js';
import type { LabeledImages } from './batchesFromTensors.js';
import { assertNpyArray, type NpyArray } from './npy.js';
import { entry } from '../internal/scope.js';

/**
 * The MedMNIST v2 2D data sets (Yang et al., Scientific Data 2023), by the flag used in their file
 * names (`dermamnist.npz`, `dermamnist_64.npz`, ...).
 * @category Data
 */
export type MedmnistName =
  | 'pathmnist' | 'chestmnist' | 'dermamnist' | 'octmnist' | 'pneumoniamnist' | 'retinamnist' | 'breastmnist'
  | 'bloodmnist' | 'tissuemnist' | 'organamnist' | 'organcmnist' | 'organsmnist';

/**
 * What MedMNIST says about one of its data sets.
 * @category Data
 */
export interface MedmnistInfo {
  /** MedMNIST's own task name. */
  readonly medmnistTask: 'multi-class' | 'binary-class' | 'multi-label, binary-class' | 'ordinal-regression';
  /** The medrobust task: ChestMNIST is multi-label, every other set single-label. */
  readonly task: Task;
  /** Channels of the images: 1 (gray) or 3 (RGB). */
  readonly channels: 1 | 3;
  /** Class (or finding) names, in label order. */
  readonly classNames: readonly string[];
}

const ORGAN = ['bladder', 'femur-left', 'femur-right', 'heart', 'kidney-left', 'kidney-right', 'liver', 'lung-left', 'lung-right', 'pancreas', 'spleen'];

/**
 * Task, channels and class names of each MedMNIST 2D data set (from MedMNIST's `INFO`).
 * @category Data
 */
export const MEDMNIST_INFO: Readonly<Record<MedmnistName, MedmnistInfo>> = {
  pathmnist: { medmnistTask: 'multi-class', task: 'single-label', channels: 3, classNames: ['adipose', 'background', 'debris', 'lymphocytes', 'mucus', 'smooth muscle', 'normal colon mucosa', 'cancer-associated stroma', 'colorectal adenocarcinoma epithelium'] },
  chestmnist: { medmnistTask: 'multi-label, binary-class', task: 'multi-label', channels: 1, classNames: ['atelectasis', 'cardiomegaly', 'effusion', 'infiltration', 'mass', 'nodule', 'pneumonia', 'pneumothorax', 'consolidation', 'edema', 'emphysema', 'fibrosis', 'pleural', 'hernia'] },
  dermamnist: { medmnistTask: 'multi-class', task: 'single-label', channels: 3, classNames: ['actinic keratoses and intraepithelial carcinoma', 'basal cell carcinoma', 'benign keratosis-like lesions', 'dermatofibroma', 'melanoma', 'melanocytic nevi', 'vascular lesions'] },
  octmnist: { medmnistTask: 'multi-class', task: 'single-label', channels: 1, classNames: ['choroidal neovascularization', 'diabetic macular edema', 'drusen', 'normal'] },
  pneumoniamnist: { medmnistTask: 'binary-class', task: 'single-label', channels: 1, classNames: ['normal', 'pneumonia'] },
  retinamnist: { medmnistTask: 'ordinal-regression', task: 'single-label', channels: 3, classNames: ['0', '1', '2', '3', '4'] },
  breastmnist: { medmnistTask: 'binary-class', task: 'single-label', channels: 1, classNames: ['malignant', 'normal, benign'] },
  bloodmnist: { medmnistTask: 'multi-class', task: 'single-label', channels: 3, classNames: ['basophil', 'eosinophil', 'erythroblast', 'immature granulocytes (myelocytes, metamyelocytes and promyelocytes)', 'lymphocyte', 'monocyte', 'neutrophil', 'platelet'] },
  tissuemnist: { medmnistTask: 'multi-class', task: 'single-label', channels: 1, classNames: ['Collecting Duct, Connecting Tubule', 'Distal Convoluted Tubule', 'Glomerular endothelial cells', 'Interstitial endothelial cells', 'Leukocytes', 'Podocytes', 'Proximal Tubule Segments', 'Thick Ascending Limb'] },
  organamnist: { medmnistTask: 'multi-class', task: 'single-label', channels: 1, classNames: ORGAN },
  organcmnist: { medmnistTask: 'multi-class', task: 'single-label', channels: 1, classNames: ORGAN },
  organsmnist: { medmnistTask: 'multi-class', task: 'single-label', channels: 1, classNames: ORGAN },
};

/**
 * Options of {@link medmnistFromNpz}.
 * @category Data
 */
export interface MedmnistOptions {
  /**
   * Which split to read: the `{split}_images` and `{split}_labels` arrays.
   * @defaultValue 'test'
   */
  split?: 'train' | 'val' | 'test';
  /**
   * The data set, for its task and class names. Without it the task is inferred from the labels
   * (one column: single-label with classes '0'..'K-1'; several: multi-label).
   * @defaultValue inferred
   */
  dataset?: MedmnistName;
  /**
   * Channels of the returned images: 3 repeats a gray image over RGB (for ImageNet-style nets),
   * 1 keeps it gray (RGB images cannot be made gray).
   * @defaultValue the file's own
   */
  channels?: 1 | 3;
}

/**
 * The result of {@link medmnistFromNpz}: images, labels, task and class names of one split.
 * @category Data
 */
export interface MedmnistSplit extends LabeledImages {
  /** The data set, when given in the options. */
  readonly dataset: MedmnistName | undefined;
  /** Which split these are. */
  readonly split: 'train' | 'val' | 'test';
}

/**
 * Turns the arrays of a MedMNIST `.npz` (any size: 28, 64, 128 or 224) into tensors: uint8
 * images `[N, S, S]` or `[N, S, S, 3]` become float32 `[N, S, S, C]` in [0, 1]; labels `[N, 1]`
 * become int32 class indices `[N]`, and ChestMNIST's `[N, 14]` float32 multi-hot rows. Read the
 * file with {@link readNpz} (or `loadMedmnist` from `medrobust/node`).
 *
 * @param arrays - the archive's arrays (only `{split}_images` and `{split}_labels` are read).
 * @param options - see {@link MedmnistOptions}.
 * @returns the split; the caller owns `images` and `labels`.
 * @throws {InvalidArgumentError} for a bad option.
 * @throws {FormatError} when the split's arrays are missing, of the wrong rank or dtype, disagree on
 *   the image count, or hold labels outside the data set's classes.
 *
 * @example
 * ```ts
 * const derma = medmnistFromNpz(readNpz(bytes, { keys: ['test_images', 'test_labels'] }), { dataset: 'dermamnist' });
 * derma.images.shape; // [2005, 28, 28, 3]
 * ```
 * @category Data
 */
export function medmnistFromNpz(arrays: Readonly<Record<string, NpyArray>>, options: MedmnistOptions = {}): MedmnistSplit {
  return entry('medmnistFromNpz', () => {
    return medmnistArrays('medmnistFromNpz', arrays, options);
  });
}

/** medmnistFromNpz under the name of the public function that called it. @internal */
export function medmnistArrays(fn: string, arrays: unknown, options: unknown): MedmnistSplit {
  if (typeof arrays !== 'object' || arrays === null || Array.isArray(arrays) || ArrayBuffer.isView(arrays)) throw new InvalidArgumentError(fn, 'arrays', 'the named arrays of a MedMNIST .npz (from readNpz)', describeValue(arrays));
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['split', 'dataset', 'channels']);
  const split = assertOneOf(fn, 'options.split', o.split, ['train', 'val', 'test'] as const) ?? 'test';
  const dataset = assertOneOf(fn, 'options.dataset', o.dataset, Object.keys(MEDMNIST_INFO) as MedmnistName[]);
  if (o.channels !== undefined && o.channels !== 1 && o.channels !== 3) throw new InvalidArgumentError(fn, 'options.channels', '1 or 3', describeValue(o.channels));
  const all = arrays as Record<string, unknown>;
  if (all[`${split}_images`] === undefined || all[`${split}_labels`] === undefined) {
    throw new FormatError(`${fn}: the archive has no '${split}_images' and '${split}_labels' arrays (it holds: ${Object.keys(all).join(', ') || 'nothing'})`);
  }
  const img = assertNpyArray(fn, `arrays.${split}_images`, all[`${split}_images`]);
  const lab = assertNpyArray(fn, `arrays.${split}_labels`, all[`${split}_labels`]);
  if (img.dtype !== 'uint8' || (img.shape.length !== 3 && img.shape.length !== 4) || (img.shape.length === 4 && img.shape[3] !== 3 && img.shape[3] !== 1)) {
    throw new FormatError(`${fn}: '${split}_images' must be uint8 [N, S, S] or [N, S, S, 3], received ${img.dtype} [${img.shape.join(',')}]`);
  }
  const n = img.shape[0]!;
  const labelInts = lab.dtype !== 'float32' && lab.dtype !== 'float64';
  if ((lab.shape.length !== 2 && lab.shape.length !== 1) || lab.shape[0] !== n || !labelInts) {
    throw new FormatError(`${fn}: '${split}_labels' must be integer [${n}, K] (one row per image), received ${lab.dtype} [${lab.shape.join(',')}]`);
  }
  const k = lab.shape.length === 2 ? lab.shape[1]! : 1;
  const info = dataset ? MEDMNIST_INFO[dataset] : undefined;
  const task: Task = info?.task ?? (k > 1 ? 'multi-label' : 'single-label');
  const fileChannels = img.shape.length === 4 ? img.shape[3]! : 1;
  if (info && info.channels !== fileChannels) throw new FormatError(`${fn}: ${dataset} has ${info.channels}-channel images, but '${split}_images' has ${fileChannels}`);
  const channels = (o.channels as 1 | 3 | undefined) ?? fileChannels;
  if (channels < fileChannels) throw new InvalidArgumentError(fn, 'options.channels', `${fileChannels} or more (the file's images have ${fileChannels} channels)`, String(channels));
  const values = Array.from(lab.data as ArrayLike<number | bigint>, (v) => Number(v));
  let classNames: readonly string[];
  let labelTensor: () => tf.Tensor;
  if (task === 'multi-label') {
    if (info && k !== info.classNames.length) throw new FormatError(`${fn}: ${dataset} has ${info.classNames.length} findings per image, '${split}_labels' has ${k}`);
    const bad = values.findIndex((v) => v !== 0 && v !== 1);
    if (bad >= 0) throw new FormatError(`${fn}: multi-label '${split}_labels' must hold 0 or 1, found ${values[bad]} at index ${bad}`);
    classNames = info?.classNames ?? Array.from({ length: k }, (_, i) => String(i));
    labelTensor = () => tf.tensor2d(Float32Array.from(values), [n, k], 'float32');
  } else {
    if (k !== 1) throw new FormatError(`${fn}: single-label '${split}_labels' must have one column, received [${lab.shape.join(',')}]`);
    const max = values.reduce((a, b) => Math.max(a, b), 0);
    const count = info?.classNames.length ?? max + 1;
    const bad = values.findIndex((v) => !Number.isInteger(v) || v < 0 || v >= count);
    if (bad >= 0) throw new FormatError(`${fn}: '${split}_labels' must be class indices in [0, ${count - 1}], found ${values[bad]} at index ${bad}`);
    classNames = info?.classNames ?? Array.from({ length: count }, (_, i) => String(i));
    labelTensor = () => tf.tensor1d(Int32Array.from(values), 'int32');
  }
  const [, h, w] = img.shape as [number, number, number];
  const images = tf.tidy(() => {
    const x = tf.div(tf.tensor4d(Float32Array.from(img.data as Uint8Array), [n, h, w, fileChannels], 'float32'), 255);
    return channels === fileChannels ? x : tf.tile(x, [1, 1, 1, channels]);
  }) as tf.Tensor4D;
  return { images, labels: labelTensor(), task, classNames, dataset, split };
}
