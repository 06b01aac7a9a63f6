/**
 * Errors raised inside a training loop by the functions it calls (pgd, the losses, a user's
 * generator or loss) are re-raised under the name of the function the user called, with the
 * original kept as `cause`: "advTrain: images must be …", not "pgd: images must be …".
 * @internal
 */
import { InvalidArgumentError, MedrobustError, MemoryBudgetError, NonFiniteError } from '../errors.js';

function innerName(err: MedrobustError): string | undefined {
  const named = (err as { fn?: unknown }).fn;
  if (typeof named === 'string') return named;
  return /^([A-Za-z_$][\w$.]*): /.exec(err.message)?.[1];
}

function withCause<E extends Error>(err: E, cause: unknown): E {
  Object.defineProperty(err, 'cause', { value: cause, enumerable: false, writable: true, configurable: true });
  return err;
}

/**
 * Returns the error to throw for `err` raised at `where` inside `fn`: a medrobust error of the same
 * class named after `fn` (the inner one as `cause`), or `err` itself when it already names `fn` or
 * is not medrobust's.
 */
export function asLoopError(fn: string, err: unknown, where: string): unknown {
  if (!(err instanceof MedrobustError)) return err;
  const inner = innerName(err);
  if (inner === fn) return err;
  const context = inner === undefined ? where : `${where}, raised by ${inner}`;
  if (err instanceof InvalidArgumentError) {
    return withCause(new InvalidArgumentError(fn, err.argument, err.expected, `${err.received} (${context})`), err);
  }
  if (err instanceof NonFiniteError) {
    const detail = err.message.slice(err.message.indexOf('must be finite, but ') + 'must be finite, but '.length);
    return withCause(new NonFiniteError(fn, err.quantity, `${detail} (${context})`), err);
  }
  if (err instanceof MemoryBudgetError) {
    const advice = err.message.slice(err.message.indexOf('available; ') + 'available; '.length);
    return withCause(new MemoryBudgetError(fn, err.batch, err.estimatedBytes, err.budgetBytes, `${advice} (${context})`), err);
  }
  const body = inner !== undefined && err.message.startsWith(`${inner}: `) ? err.message.slice(inner.length + 2) : err.message;
  const Ctor = err.constructor as new (message: string) => MedrobustError;
  return withCause(new Ctor(`${fn}: ${body} (${context})`), err);
}
