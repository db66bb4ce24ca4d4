import { open } from 'node:fs/promises';
import path from 'node:path';

/**
 * Syncs the directory holding `file`, so that a file just created or renamed
 * there survives a crash (the entry lives in the directory, not in the file).
 */
export async function fsyncDirectory(file: string): Promise<void> {
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
