import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HarnessError, HarnessErrorCode } from '../src/index.js';

describe('error catalogue', () => {
  it('documents every code in the README', async () => {
    const readme = await readFile(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const missing = Object.values(HarnessErrorCode).filter((code) => !readme.includes(`\`${code}\``));
    expect(missing).toEqual([]);
  });

  it('carries the code in the message and the cause', () => {
    const cause = new Error('root');
    const err = new HarnessError(HarnessErrorCode.StartTimeout, 'slow', { cause });
    expect(err.message).toBe('ORDERWIRE_ERR_HARNESS_START_TIMEOUT: slow');
    expect(err.cause).toBe(cause);
    expect(err.name).toBe('HarnessError');
  });
});
