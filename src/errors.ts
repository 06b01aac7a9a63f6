/**
 * Base class of every error medrobust throws on purpose. Catch it to tell the library's own,
 * documented failures apart from bugs and from errors of tfjs itself.
 *
 * @example
 * ```ts
 * try { fgsm(model, images, labels, { epsilon: -1 }); }
 * catch (err) { if (err instanceof MedrobustError) console.error(err.message); }
 * ```
 * @category Errors
 */
export class MedrobustError extends Error {
  /** @param message - the full, human-readable message. */
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * An argument (or an option field) had the wrong shape, type, range or format. The message reads
 * `fn: argument must be expected, received received`, and the three parts are kept as fields so
 * that tools built on medrobust can react to them without parsing the text.
 *
 * @example
 * ```ts
 * try { pgd(model, images, labels, { epsilon: Number.NaN }); }
 * catch (err) {
 *   if (err instanceof InvalidArgumentError) console.log(err.argument); // 'options.epsilon'
 * }
 * ```
 * @category Errors
 */
export class InvalidArgumentError extends MedrobustError {
  /** The function that rejected the argument, e.g. `'pgd'`. */
  readonly fn: string;
  /** The argument or option path, e.g. `'options.epsilon'` or `'labels'`. */
  readonly argument: string;
  /** What was expected, in words. */
  readonly expected: string;
  /** What was received, in words (a value, a shape or a type). */
  readonly received: string;

  /**
   * @param fn - the function that rejected the argument.
   * @param argument - the argument or option path.
   * @param expected - what was expected, in words.
   * @param received - what came instead, in words.
   */
  constructor(fn: string, argument: string, expected: string, received: string) {
    super(`${fn}: ${argument} must be ${expected}, received ${received}`);
    this.fn = fn;
    this.argument = argument;
    this.expected = expected;
    this.received = received;
  }
}

/**
 * A long-running job (training, t-SNE, GAP) was cancelled through its `AbortSignal`. Work finished
 * before the abort (for example checkpointed epochs) is kept and a later call can resume from it.
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * controller.abort();
 * try { await tsne(features, { signal: controller.signal }); }
 * catch (err) { console.log(err instanceof AbortError); } // true
 * ```
 * @category Errors
 */
export class AbortError extends MedrobustError {
  /** @param message - what was aborted. */
  constructor(message = 'The operation was aborted') {
    super(message);
  }
}

/**
 * A file could not be read or written in the expected format (a corrupt `.npz`, a truncated
 * `.npy` header, a checkpoint from another model). The message names the file and what was wrong.
 *
 * @example
 * ```ts
 * try { readNpy(new Uint8Array([1, 2, 3])); }
 * catch (err) { console.log(err instanceof FormatError); } // true
 * ```
 * @category Errors
 */
export class FormatError extends MedrobustError {}

/**
 * A value the library computed or was given is NaN or infinite where a finite one is required: a
 * model's logits, a loss, trained weights, a learning rate, a generator's output. medrobust checks once
 * per call or step (one reduction) and throws this instead of returning a silently wrong result.
 *
 * @example
 * ```ts
 * const nanModel = (x: tf.Tensor4D) => tf.fill([x.shape[0], 2], Number.NaN) as tf.Tensor2D;
 * try { pgd(nanModel, images, labels, { epsilon: 0.1 }); }
 * catch (err) { console.log(err instanceof NonFiniteError, (err as NonFiniteError).quantity); } // true 'logits'
 * ```
 * @category Errors
 */
export class NonFiniteError extends MedrobustError {
  /** The function that found the value, e.g. `'pgd'`. */
  readonly fn: string;
  /** What was not finite, e.g. `'logits'`, `'loss'`, `'weights of conv1/kernel'`. */
  readonly quantity: string;

  /**
   * @param fn - the function that found the value.
   * @param quantity - what was not finite.
   * @param detail - where and what to do, in words (appended to the message).
   */
  constructor(fn: string, quantity: string, detail: string) {
    super(`${fn}: ${quantity} must be finite, but ${detail}`);
    this.fn = fn;
    this.quantity = quantity;
  }
}

/**
 * A step would not fit in the memory available to the backend (the wasm heap stops at 4 GiB; a GPU has
 * its own limit), or in the budget the caller set. medrobust estimates the need before it runs the step
 * and throws this instead of letting the backend stall or crash. The message names the batch, the
 * estimate and the budget, and says what to do (a smaller `batchSize`/`microBatch`, a larger budget).
 *
 * @example
 * ```ts
 * try { pgd(model, images, labels, { epsilon: 8 / 255, memoryBudget: 64 * 2 ** 20 }); }
 * catch (err) { if (err instanceof MemoryBudgetError) console.log(err.batch, err.estimatedBytes, err.budgetBytes); }
 * ```
 * @category Errors
 */
export class MemoryBudgetError extends MedrobustError {
  /** The function that refused the step. */
  readonly fn: string;
  /** The number of samples the step would have processed at once. */
  readonly batch: number;
  /** The estimated peak bytes of the step. */
  readonly estimatedBytes: number;
  /** The bytes available (the backend's limit or the caller's budget, less what is in use). */
  readonly budgetBytes: number;

  /**
   * @param fn - the function that refused the step.
   * @param batch - samples the step would process at once.
   * @param estimatedBytes - the estimated peak bytes.
   * @param budgetBytes - the bytes available.
   * @param advice - what to do, in words.
   */
  constructor(fn: string, batch: number, estimatedBytes: number, budgetBytes: number, advice: string) {
    const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
    super(`${fn}: a batch of ${batch} needs about ${mib(estimatedBytes)}, more than the ${mib(budgetBytes)} available; ${advice}`);
    this.fn = fn;
    this.batch = batch;
    this.estimatedBytes = estimatedBytes;
    this.budgetBytes = budgetBytes;
  }
}

/**
 * A file or folder could not be read or written: it does not exist, is a folder where a file was
 * expected, is not readable, or the disk is full. The message names the function, the path and what
 * to do; `code` keeps the system's error code (`'ENOENT'`, `'EISDIR'`, `'EACCES'`, `'ENOSPC'`, ...)
 * for tools that react to it. Contents that are present but wrong are a {@link FormatError} instead.
 *
 * @example
 * ```ts
 * try { await loadNpz('missing.npz'); }
 * catch (err) { if (err instanceof FileError) console.log(err.code, err.path); } // 'ENOENT' 'missing.npz'
 * ```
 * @category Errors
 */
export class FileError extends MedrobustError {
  /** The function that failed, e.g. `'loadNpz'` or `'fileCheckpoint.save'`. */
  readonly fn: string;
  /** The path as the caller gave it. */
  readonly path: string;
  /** The system error code, e.g. `'ENOENT'`; `'EUNKNOWN'` when the system gave none. */
  readonly code: string;

  /**
   * @param fn - the function that failed.
   * @param path - the path as the caller gave it.
   * @param code - the system error code.
   * @param message - the full message (names the function, the path and what to do).
   */
  constructor(fn: string, path: string, code: string, message: string) {
    super(message);
    this.fn = fn;
    this.path = path;
    this.code = code;
  }
}

/**
 * An attack returned adversarial images outside the threat model it was evaluated under: an image
 * moved farther than ε (in the attack's norm) from its clean version. {@link evaluateRobustness} checks
 * every attack's output with one reduction per batch and throws this instead of reporting a robust
 * accuracy for a stronger threat model than the row says.
 *
 * @example
 * ```ts
 * const cheat = { name: 'cheat', epsilons: [0.03], run: (_m, x) => tf.add(x, 0.5) as tf.Tensor4D };
 * try { await evaluateRobustness(model, [{ images, labels }], [cheat]); }
 * catch (err) { if (err instanceof PerturbationBudgetError) console.log(err.attack, err.achieved, err.epsilon); }
 * ```
 * @category Errors
 */
export class PerturbationBudgetError extends MedrobustError {
  /** The function that checked the output, e.g. `'evaluateRobustness'`. */
  readonly fn: string;
  /** The attack's name. */
  readonly attack: string;
  /** The budget ε the attack ran with. */
  readonly epsilon: number;
  /** The norm of the threat model, `'linf'` or `'l2'`. */
  readonly norm: 'linf' | 'l2';
  /** The largest perturbation norm found. */
  readonly achieved: number;
  /** The index (in the evaluated data, counted from 0) of the image with that norm. */
  readonly index: number;

  /**
   * @param fn - the function that checked the output.
   * @param attack - the attack's name.
   * @param epsilon - the budget.
   * @param norm - the threat model's norm.
   * @param achieved - the largest norm found.
   * @param index - the image with that norm.
   */
  constructor(fn: string, attack: string, epsilon: number, norm: 'linf' | 'l2', achieved: number, index: number) {
    super(`${fn}: attack '${attack}' must keep every image within ε = ${epsilon} (${norm === 'linf' ? 'L∞' : 'L2'}), but image ${index} moved by ${achieved}; project the perturbation onto the ε-ball, or the row would report a stronger threat model than it names`);
    this.fn = fn;
    this.attack = attack;
    this.epsilon = epsilon;
    this.norm = norm;
    this.achieved = achieved;
    this.index = index;
  }
}

/**
 * Shard results could not be merged into the whole data set's result: a shard is missing or
 * given twice, the shards were made with different configurations (or shard counts), or a shard's
 * records do not cover exactly its part of the data set. Nothing is merged; the message names the
 * shards (and their files) and says what to rerun.
 *
 * @example
 * ```ts
 * try { mergeShards([shard0, shard2]); }
 * catch (err) { if (err instanceof ShardMergeError) console.log(err.problem, err.missing); } // 'missing' [1]
 * ```
 * @category Errors
 */
export class ShardMergeError extends MedrobustError {
  /** The function that refused, e.g. `'mergeShards'` or `'mergeResults'`. */
  readonly fn: string;
  /** What is wrong: shards `'missing'`, `'duplicated'`, a different `'config'` or shard `'count'`, or inconsistent `'records'`. */
  readonly problem: 'missing' | 'duplicated' | 'config' | 'count' | 'records';
  /** The shard indices that are missing (for `'missing'`; also set with `'duplicated'` when some are). */
  readonly missing: readonly number[];
  /** The shard indices given more than once. */
  readonly duplicated: readonly number[];
  /** The shards at fault, by index (for `'config'`, `'count'` and `'records'`: those that differ from the first). */
  readonly shards: readonly number[];

  /**
   * @param fn - the function that refused.
   * @param problem - what is wrong.
   * @param detail - the full explanation (appended to `fn: `).
   * @param sets - the shard indices: missing, duplicated, at fault.
   */
  constructor(fn: string, problem: ShardMergeError['problem'], detail: string, sets: { missing?: readonly number[]; duplicated?: readonly number[]; shards?: readonly number[] } = {}) {
    super(`${fn}: ${detail}`);
    this.fn = fn;
    this.problem = problem;
    this.missing = sets.missing ?? [];
    this.duplicated = sets.duplicated ?? [];
    this.shards = sets.shards ?? [];
  }
}
