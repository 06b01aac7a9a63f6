/**
 * Atomic file writes: write a temporary file beside the target, flush it, then rename it over the
 * target (rename is atomic within a file system), so readers see the old or the new file, never a
 * partial one.
 * @internal
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

let counter = 0;

/** Writes `data` to `file` atomically, creating the parent folder if needed. */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  counter += 1;
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.${counter}.tmp`);
  try {
    const handle = await fs.open(tmp, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}
