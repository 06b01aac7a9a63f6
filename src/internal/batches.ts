/**
 * Iteration of a {@link BatchInput}: one place for its forms and its ownership rule.
 * @internal
 */
import { InvalidArgumentError } from '../errors.js';
import type { BatchInput } from '../types.js';
import { describeValue } from './validate.js';

const FORMS = 'an array of batches, an (async) iterable of batches, or a function (epoch) => (async) iterable of batches';

function isIterable(value: unknown): value is Iterable<unknown> | AsyncIterable<unknown> {
  // A function may be iterable too (an EpochBatchSource returned by a factory is iterated, not called again).
  return value !== null && (typeof value === 'object' || typeof value === 'function') && (Symbol.iterator in value || Symbol.asyncIterator in value);
}

/**
 * Checks the form of a {@link BatchInput} (not its batches) before any work.
 * @throws {InvalidArgumentError} when `input` is none of the four forms.
 */
export function assertBatchInput<B>(fn: string, argument: string, input: unknown): asserts input is BatchInput<B> {
  if (typeof input === 'function' || Array.isArray(input) || isIterable(input)) return;
  throw new InvalidArgumentError(fn, argument, FORMS, describeValue(input));
}

/**
 * Yields one epoch of a {@link BatchInput}, each batch with `owned`: true when the consumer must
 * dispose it (batches of an iterable or a factory), false for the borrowed batches of an array.
 * A factory is called with `epoch`; a plain iterable starts a new pass. The batches themselves are
 * not validated.
 * @throws {InvalidArgumentError} when `input` is none of the four forms, or a factory returns no iterable.
 */
export async function* iterateBatches<B>(fn: string, argument: string, input: BatchInput<B>, epoch: number): AsyncGenerator<{ batch: B; owned: boolean }> {
  assertBatchInput<B>(fn, argument, input);
  if (Array.isArray(input)) {
    for (const batch of input as readonly B[]) yield { batch, owned: false };
    return;
  }
  let source: unknown = input;
  if (typeof input === 'function') {
    source = input(epoch);
    if (!isIterable(source)) throw new InvalidArgumentError(fn, `${argument}(epoch)`, 'an iterable or async iterable of batches', `${describeValue(source)} for epoch ${epoch}`);
  }
  for await (const batch of source as AsyncIterable<B>) yield { batch, owned: true };
}
