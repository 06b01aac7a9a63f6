/** What every pipeline stage receives. @internal */
import type * as tfl from '@tensorflow/tfjs-layers';
import { AbortError } from '../../errors.js';
import type { LabeledImages } from '../../data/batchesFromTensors.js';
import type { ExperimentConfig, DemoTask } from '../config.js';
import type { ProgressLine } from '../progress.js';
import type { RunState } from '../runState.js';

export interface StageContext {
  config: ExperimentConfig;
  state: RunState;
  dir: string;
  progress: ProgressLine;
  signal: AbortSignal;
}

export interface TaskData {
  name: DemoTask;
  train: LabeledImages;
  validation: LabeledImages;
  test: LabeledImages;
}

export interface TrainedTask extends TaskData {
  model: tfl.LayersModel;
}

/**
 * Lets the event loop run (so a Ctrl-C handler can fire between synchronous attack batches), then
 * throws AbortError if the run was interrupted.
 */
export async function checkpointPause(signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (signal.aborted) throw new AbortError('medrobust: interrupted');
}
