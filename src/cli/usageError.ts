/**
 * A mistake in how the command was called (an unknown option, a missing or malformed config file, a
 * bad value): printed as one line without a stack trace, exit code 2.
 * @internal
 */
import { MedrobustError } from '../errors.js';

export class UsageError extends MedrobustError {}
