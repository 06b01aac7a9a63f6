/**
 * Turns Node's file-system errors (ENOENT, EISDIR, EACCES, ENOSPC, ...) into {@link FileError}s whose
 * message names the function, the path and what to do.
 * @internal
 */
import * as path from 'node:path';
import { FileError, InvalidArgumentError, MedrobustError } from '../errors.js';
import { describeValue } from '../internal/validate.js';

const WHAT: Readonly<Record<string, [problem: string, advice: string]>> = {
  ENOENT: ['does not exist', 'check the path'],
  EISDIR: ['is a folder, not a file', 'pass the path of the file inside it'],
  ENOTDIR: ['has a part that is a file, not a folder', 'check the path'],
  EEXIST: ['has a part that exists but is not a folder', 'check the path'],
  EACCES: ['is not accessible (permission denied)', 'check its permissions'],
  EPERM: ['is not accessible (operation not permitted)', 'check its permissions'],
  ENOSPC: ['could not be written: the disk is full', 'free some space'],
  EDQUOT: ['could not be written: the disk quota is exceeded', 'free some space'],
  EROFS: ['is on a read-only file system', 'choose a writable folder'],
  EFBIG: ['could not be written: the file would be too large for this file system', 'choose another folder'],
  EMFILE: ['could not be opened: too many open files', 'close some files or raise the limit (ulimit -n)'],
  ENAMETOOLONG: ['has a name that is too long', 'use a shorter path'],
  ELOOP: ['has too many symbolic links', 'check the links along the path'],
  EIO: ['could not be read or written (input/output error)', 'check the disk'],
};

/** The system code of an error, or 'EUNKNOWN'. */
export function errorCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && code.length > 0 ? code : 'EUNKNOWN';
}

/**
 * A FileError for `err`, raised by `fn` on `file`. `role` says what the file is ('the .npz file');
 * `extra` is appended to the advice (e.g. that the previous checkpoint is intact).
 * A MedrobustError passes through unchanged.
 */
export function fileError(fn: string, file: string, err: unknown, role: string, extra = ''): Error {
  if (err instanceof MedrobustError) return err;
  const code = errorCode(err);
  const known = WHAT[code];
  const resolved = path.resolve(file);
  const shown = resolved === file ? file : `${file} (${resolved})`;
  const problem = known ? known[0] : `could not be accessed (${(err as Error | null)?.message ?? String(err)})`;
  const advice = known ? known[1] : 'check the path and the disk';
  return new FileError(fn, file, code, `${fn}: ${role} ${shown} ${problem} [${code}]; ${advice}${extra}`);
}

/**
 * Checks a path argument: a non-empty string without NUL bytes (which Node refuses with an untyped
 * error). `what` is the expectation in words ('a file path', 'a folder path').
 */
export function assertPath(fn: string, argument: string, value: unknown, what = 'a file path'): string {
  if (typeof value !== 'string' || value.length === 0 || value.includes('\0')) {
    throw new InvalidArgumentError(fn, argument, `${what} (a non-empty string without NUL bytes)`, describeValue(value));
  }
  return value;
}
