import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { FormatError, InvalidArgumentError } from '../errors.js';
import { describeValue } from '../internal/validate.js';
import { AtomicWriteError, writeFileAtomic } from './atomic.js';
import { assertPath, fileError } from './fileErrors.js';
// Imported for the {@link} references of the comments only.
import type { FileError } from '../errors.js';
import { entryAsync } from '../internal/scope.js';
import { disposingSharedLayers } from '../internal/sharedLayers.js';

function assertDir(fn: string, dir: unknown): string {
  return assertPath(fn, 'dir', dir, 'a folder path');
}

/**
 * A tfjs IO handler for a model folder on disk, in the TensorFlow.js layers format
 * (`model.json` + `weights.bin`), for Node without tfjs-node. Saving writes `weights.bin` and then
 * `model.json`, each atomically (temporary file + rename). Loading reads `model.json` and every
 * weight file its manifest lists (so the sharded output of `tensorflowjs_converter` loads too).
 * Weight paths are confined to the folder: a `model.json` that lists an absolute path or one with
 * `..` is refused before anything is opened, so a downloaded model cannot read (or reveal the size of)
 * files elsewhere. The files' sizes are checked against the manifest before they are read.
 *
 * @param dir - the model folder (created on save).
 * @returns an IOHandler for `model.save(handler)` and `tf.loadLayersModel(handler)`.
 * @throws {InvalidArgumentError} for a bad path. The handler's `load` throws {@link FileError} when
 *   `model.json` or a weight file cannot be read (missing, a folder, no permission) and
 *   {@link FormatError} for a malformed `model.json`, a weight path outside the folder, or weight
 *   files whose size does not match the manifest; `save` throws {@link FileError} when a file cannot
 *   be written (the previous files stay as they were).
 *
 * @example
 * ```ts
 * await net.save(fileIO('models/chexnet'));
 * const again = await tf.loadLayersModel(fileIO('models/chexnet'));
 * ```
 * @category Node
 */
export function fileIO(dir: string): tf.io.IOHandler {
  return handler('fileIO', assertDir('fileIO', dir));
}

/** The IO handler, raising errors under the name of the public function that made it. */
function handler(fn: string, dir: string): tf.io.IOHandler {
  const jsonPath = path.join(dir, 'model.json');
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) throw new InvalidArgumentError(fn, 'model', 'a layers model (JSON topology)', 'a binary graph topology');
      const weights = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const json: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? 'medrobust',
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
      };
      if (artifacts.trainingConfig) json.trainingConfig = artifacts.trainingConfig;
      if (artifacts.userDefinedMetadata) json.userDefinedMetadata = artifacts.userDefinedMetadata;
      await write(fn, path.join(dir, 'weights.bin'), new Uint8Array(weights), 'the weight file');
      await write(fn, jsonPath, JSON.stringify(json), 'the model file');
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      let text: string;
      try {
        text = await fs.readFile(jsonPath, 'utf8');
      } catch (err) {
        throw fileError(fn, jsonPath, err, 'the model file');
      }
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(text) as tf.io.ModelJSON;
      } catch (err) {
        throw new FormatError(`${fn}: cannot parse ${jsonPath}: ${(err as Error).message}`);
      }
      if (typeof json !== 'object' || json === null || !json.modelTopology || !Array.isArray(json.weightsManifest)) {
        throw new FormatError(`${fn}: ${jsonPath} is not a TensorFlow.js model.json (it needs modelTopology and weightsManifest)`);
      }
      const manifest = checkManifest(fn, json.weightsManifest, jsonPath);
      return tf.io.getModelArtifactsForJSON(json, async () => {
        const specs = manifest.flatMap((g) => g.weights);
        const files = manifest.flatMap((g) => g.paths.map((p) => ({ listed: p, file: confine(fn, dir, p, jsonPath) })));
        // Sizes first: nothing is read unless the files hold exactly what the manifest describes.
        let total = 0;
        for (const { listed, file } of files) {
          let stat;
          try {
            stat = await fs.stat(file);
          } catch (err) {
            throw fileError(fn, file, err, `the weight file '${listed}' listed in ${jsonPath}:`);
          }
          if (!stat.isFile()) throw new FormatError(`${fn}: the weight file '${listed}' listed in ${jsonPath} is not a regular file`);
          total += stat.size;
        }
        const expected = specs.every((w) => w.dtype !== 'string') ? specs.reduce((s, w) => s + specBytes(w), 0) : undefined;
        if (expected !== undefined && expected !== total) {
          throw new FormatError(`${fn}: the weight files of ${jsonPath} hold ${total} bytes, its manifest describes ${expected} (truncated or mismatched files)`);
        }
        const data = new Uint8Array(total);
        let off = 0;
        for (const { listed, file } of files) {
          let part: Buffer;
          try {
            part = await fs.readFile(file);
          } catch (err) {
            throw fileError(fn, file, err, `the weight file '${listed}' listed in ${jsonPath}:`);
          }
          if (off + part.length > total) throw new FormatError(`${fn}: the weight file '${listed}' changed while it was read`);
          data.set(part, off);
          off += part.length;
        }
        if (off !== total) throw new FormatError(`${fn}: the weight files of ${jsonPath} changed while they were read`);
        return [specs, data.buffer];
      });
    },
  };
}

/** Bytes a weight takes in the weight files (tfjs: float32/int32 4, bool 1, complex64 8; quantized 1 or 2). */
function specBytes(w: tf.io.WeightsManifestEntry): number {
  const n = w.shape.reduce((a, b) => a * b, 1);
  if (w.quantization) return n * (w.quantization.dtype === 'uint8' ? 1 : 2);
  return n * (w.dtype === 'bool' ? 1 : w.dtype === 'complex64' ? 8 : 4);
}

/** Checks the manifest's structure so that a malformed one is a FormatError, not a TypeError. */
function checkManifest(fn: string, manifest: unknown[], jsonPath: string): tf.io.WeightsManifestConfig {
  const bad = (what: string): FormatError => new FormatError(`${fn}: ${jsonPath} has a malformed weightsManifest: ${what}`);
  manifest.forEach((g, i) => {
    const group = g as { paths?: unknown; weights?: unknown } | null;
    if (typeof group !== 'object' || group === null) throw bad(`group ${i} is not an object`);
    if (!Array.isArray(group.paths) || group.paths.some((p) => typeof p !== 'string')) throw bad(`group ${i} has no list of paths`);
    if (!Array.isArray(group.weights)) throw bad(`group ${i} has no list of weights`);
    group.weights.forEach((w: unknown, j: number) => {
      const spec = w as { name?: unknown; shape?: unknown; dtype?: unknown } | null;
      if (typeof spec !== 'object' || spec === null || typeof spec.name !== 'string' || typeof spec.dtype !== 'string'
        || !Array.isArray(spec.shape) || spec.shape.some((d) => !Number.isSafeInteger(d) || (d as number) < 0)) {
        throw bad(`weight ${j} of group ${i} needs a name, a dtype and a shape of non-negative integers`);
      }
    });
  });
  return manifest as tf.io.WeightsManifestConfig;
}

/**
 * The file a manifest path names, confined to the model folder: the path must be relative and stay
 * inside the folder (no '..', no absolute path, no drive, no backslash), so a model.json cannot make
 * medrobust read, or reveal anything about, a file elsewhere.
 */
function confine(fn: string, dir: string, listed: string, jsonPath: string): string {
  const refuse = (): FormatError => new FormatError(
    `${fn}: ${jsonPath} lists the weight path ${JSON.stringify(listed)}, which leads outside the model folder; weight files must be named relative to the folder that holds model.json (e.g. 'weights.bin' or 'group1-shard1of2.bin')`,
  );
  if (listed.length === 0 || listed.includes('\0') || listed.includes('\\') || path.isAbsolute(listed) || path.win32.isAbsolute(listed) || /^[a-zA-Z]:/.test(listed)) throw refuse();
  if (listed.split('/').some((part) => part === '..')) throw refuse();
  const root = path.resolve(dir);
  const file = path.resolve(root, listed);
  const rel = path.relative(root, file);
  if (rel.length === 0 || rel.startsWith('..') || path.isAbsolute(rel)) throw refuse();
  return file;
}

/** Writes atomically, as a FileError naming fileIO and the file. */
async function write(fn: string, file: string, data: Uint8Array | string, role: string): Promise<void> {
  try {
    await writeFileAtomic(file, data);
  } catch (err) {
    const cause = err instanceof AtomicWriteError ? err.cause : err;
    throw fileError(fn, file, cause, role, err instanceof AtomicWriteError && err.replaced ? '' : '; the previous file, if any, is unchanged');
  }
}

/**
 * Saves a LayersModel to a folder (`model.json` + `weights.bin`, each written atomically).
 *
 * @param model - the model (not modified).
 * @param dir - the folder, created if needed.
 * @returns tfjs's save result.
 * @throws {InvalidArgumentError} for a bad model or path.
 * @throws {FileError} when a file cannot be written (disk full, no permission).
 *
 * @example
 * ```ts
 * await saveModel(net, 'models/lesion-cnn');
 * ```
 * @category Node
 */
export async function saveModel(model: tfl.LayersModel, dir: string): Promise<tf.io.SaveResult> {
  if (!(model instanceof tfl.LayersModel)) throw new InvalidArgumentError('saveModel', 'model', 'a tf.LayersModel', describeValue(model));
  return model.save(handler('saveModel', assertDir('saveModel', dir)));
}

/**
 * Loads a LayersModel saved by {@link saveModel} (or converted by `tensorflowjs_converter`) from a folder.
 *
 * @param dir - the folder holding `model.json`.
 * @returns the model, owned by the caller (dispose it: its dispose also frees layers the model applies more
 *   than once, which tfjs-layers' own dispose leaves behind).
 * @throws {InvalidArgumentError} for a bad path.
 * @throws {FileError} for a missing or unreadable folder or file.
 * @throws {FormatError} for a malformed or truncated file, or weight paths outside the folder.
 *
 * @example
 * ```ts
 * const net = await loadModel('models/lesion-cnn');
 * ```
 * @category Node
 */
export async function loadModel(dir: string): Promise<tfl.LayersModel> {
  return entryAsync('loadModel', async () => {
    return disposingSharedLayers(await tfl.loadLayersModel(handler('loadModel', assertDir('loadModel', dir))));
  });
}
