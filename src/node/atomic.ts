/**
 * Atomic file writes: write a temporary file beside the target, flush it to disk, rename it over the
 * target (rename is atomic within a file system), then flush the folder, so readers see the old or
 * the new file, never a partial one, even after a crash or a power cut.
 * @internal
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The file-system calls the atomic write uses. Tests replace them (`vi.spyOn(atomicIo, 'write')`)
 * to inject faults such as ENOSPC; nothing else should.
 */
export const atomicIo = {
  mkdir: (dir: string): Promise<unknown> => fs.mkdir(dir, { recursive: true }),
  open: (file: string, flags: string): Promise<fs.FileHandle> => fs.open(file, flags),
  write: async (handle: fs.FileHandle, data: Uint8Array | string): Promise<void> => { await handle.writeFile(data); },
  sync: (handle: fs.FileHandle): Promise<void> => handle.sync(),
  rename: (from: string, to: string): Promise<void> => fs.rename(from, to),
  rm: (file: string): Promise<void> => fs.rm(file, { force: true }),
};

/** Thrown by {@link writeFileAtomic}: the cause, and whether the target was already replaced. */
export class AtomicWriteError extends Error {
  /** The underlying error (with its `code`). */
  readonly cause: unknown;
  /** True when the failure came after the rename: the new file is in place. */
  readonly replaced: boolean;
  constructor(cause: unknown, replaced: boolean) {
    super((cause as Error | null)?.message ?? String(cause));
    this.cause = cause;
    this.replaced = replaced;
  }
}

let counter = 0;
/** This machine, in temporary names: only its own dead processes' files are cleaned up (a shared folder may serve several). */
const HOST = os.hostname().replace(/[^A-Za-z0-9-]/g, '-') || 'host';

/** `.<name>.<host>.<pid>.<time>.<n>.tmp` beside the target. */
export function tempName(file: string): string {
  counter += 1;
  return path.join(path.dirname(file), `.${path.basename(file)}.${HOST}.${process.pid}.${Date.now()}.${counter}.tmp`);
}

/** True when a process with this id is running (or we cannot tell). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Removes temporary files that earlier writes of `file` on this machine left behind when their
 * process was killed (their pid is in the name and no longer runs). Best effort: errors are ignored.
 */
async function removeStaleTemps(file: string): Promise<void> {
  const base = path.basename(file);
  const escape = (t: string): string => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`^\\.${escape(base)}\\.${escape(HOST)}\\.(\\d+)\\.\\d+\\.\\d+\\.tmp$`);
  try {
    for (const name of await fs.readdir(path.dirname(file))) {
      const m = pattern.exec(name);
      if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) await atomicIo.rm(path.join(path.dirname(file), name));
    }
  } catch {
    // Cleaning up is a courtesy; the write itself succeeded.
  }
}

/**
 * Writes `data` to `file` atomically, creating the parent folder if needed.
 * @throws {AtomicWriteError} wrapping the file-system error; `replaced` says whether `file` was
 *   already replaced (only a failure to flush the folder after the rename), otherwise the previous
 *   `file`, if any, is untouched and the temporary file has been removed.
 */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempName(file);
  try {
    await atomicIo.mkdir(path.dirname(file));
    const handle = await atomicIo.open(tmp, 'w');
    try {
      await atomicIo.write(handle, data);
      await atomicIo.sync(handle);
    } finally {
      await handle.close();
    }
    await atomicIo.rename(tmp, file);
  } catch (err) {
    await atomicIo.rm(tmp).catch(() => undefined);
    throw new AtomicWriteError(err, false);
  }
  // Flush the folder so the rename itself survives a power cut (not possible on Windows: skip there).
  if (process.platform !== 'win32') {
    try {
      const dir = await fs.open(path.dirname(file), 'r');
      try { await dir.sync(); } finally { await dir.close(); }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EACCES') throw new AtomicWriteError(err, true);
    }
  }
  await removeStaleTemps(file);
}
