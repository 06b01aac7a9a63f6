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
