import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { FormatError, InvalidArgumentError } from '../errors.js';
import { describeValue } from '../internal/validate.js';
import { writeFileAtomic } from './atomic.js';

function assertDir(fn: string, dir: unknown): string {
  if (typeof dir !== 'string' || dir.length === 0) throw new InvalidArgumentError(fn, 'dir', 'a folder path', describeValue(dir));
  return dir;
}

/**
 * A tfjs IO handler for a model folder on disk, in the TensorFlow.js layers format
 * (`model.json` + `weights.bin`), for Node without tfjs-node. Saving writes `weights.bin` and then
 * `model.json`, each atomically (temporary file + rename). Loading reads `model.json` and every
 * weight file its manifest lists (so the sharded output of `tensorflowjs_converter` loads too).
 *
 * @param dir - the model folder (created on save).
 * @returns an IOHandler for `model.save(handler)` and `tf.loadLayersModel(handler)`.
 * @throws {InvalidArgumentError} for a bad path; the handler's `load` throws {@link FormatError}
 *   for a missing or malformed `model.json` or a missing weight file.
 *
 * @example
 * ```ts
 * await net.save(fileIO('models/chexnet'));
 * const again = await tf.loadLayersModel(fileIO('models/chexnet'));
 * ```
 * @category Node
 */
export function fileIO(dir: string): tf.io.IOHandler {
  assertDir('fileIO', dir);
  const jsonPath = path.join(dir, 'model.json');
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) throw new InvalidArgumentError('fileIO', 'model', 'a layers model (JSON topology)', 'a binary graph topology');
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
      await writeFileAtomic(path.join(dir, 'weights.bin'), new Uint8Array(weights));
      await writeFileAtomic(jsonPath, JSON.stringify(json));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(await fs.readFile(jsonPath, 'utf8')) as tf.io.ModelJSON;
      } catch (err) {
        throw new FormatError(`fileIO: cannot read ${jsonPath}: ${(err as Error).message}`);
      }
      if (typeof json !== 'object' || json === null || !json.modelTopology || !Array.isArray(json.weightsManifest)) {
        throw new FormatError(`fileIO: ${jsonPath} is not a TensorFlow.js model.json (it needs modelTopology and weightsManifest)`);
      }
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const parts: Uint8Array[] = [];
        for (const group of manifest) {
          for (const p of group.paths) {
            const file = path.join(dir, p);
            try {
              parts.push(new Uint8Array(await fs.readFile(file)));
            } catch (err) {
              throw new FormatError(`fileIO: cannot read the weight file ${file} listed in ${jsonPath}: ${(err as Error).message}`);
            }
          }
          specs.push(...group.weights);
        }
        const total = parts.reduce((s, p) => s + p.length, 0);
        const data = new Uint8Array(total);
        let off = 0;
        for (const p of parts) { data.set(p, off); off += p.length; }
        const expected = specs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * (w.quantization ? (w.quantization.dtype === 'uint8' ? 1 : 2) : w.dtype === 'string' ? 0 : 4), 0);
        if (specs.every((w) => w.dtype !== 'string') && expected !== total) {
          throw new FormatError(`fileIO: the weight files of ${jsonPath} hold ${total} bytes, its manifest describes ${expected} (truncated or mismatched files)`);
        }
        return [specs, data.buffer];
      });
    },
  };
}

/**
 * Saves a LayersModel to a folder (`model.json` + `weights.bin`, each written atomically).
 *
 * @param model - the model (not modified).
 * @param dir - the folder, created if needed.
 * @returns tfjs's save result.
 * @throws {InvalidArgumentError} for a bad model or path.
 *
 * @example
 * ```ts
 * await saveModel(net, 'models/lesion-cnn');
 * ```
 * @category Node
 */
export async function saveModel(model: tfl.LayersModel, dir: string): Promise<tf.io.SaveResult> {
  if (!(model instanceof tfl.LayersModel)) throw new InvalidArgumentError('saveModel', 'model', 'a tf.LayersModel', describeValue(model));
  return model.save(fileIO(assertDir('saveModel', dir)));
}

/**
 * Loads a LayersModel saved by {@link saveModel} (or converted by `tensorflowjs_converter`) from a folder.
 *
 * @param dir - the folder holding `model.json`.
 * @returns the model, owned by the caller (dispose it).
 * @throws {InvalidArgumentError} for a bad path.
 * @throws {FormatError} for a missing, malformed or truncated file.
 *
 * @example
 * ```ts
 * const net = await loadModel('models/lesion-cnn');
 * ```
 * @category Node
 */
export async function loadModel(dir: string): Promise<tfl.LayersModel> {
  return tfl.loadLayersModel(fileIO(assertDir('loadModel', dir)));
}
