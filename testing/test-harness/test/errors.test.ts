import { describe, expect, it } from 'vitest';
import { HarnessError, HarnessErrorCode } from '../src/index.js';

describe('error catalogue', () => {
  it('carries the code in the message and the cause', () => {
    const cause = new Error('root');
    const err = new HarnessError(HarnessErrorCode.StartTimeout, 'slow', { cause });
    expect(err.message).toBe('ORDERWIRE_ERR_HARNESS_START_TIMEOUT: slow');
    expect(err.cause).toBe(cause);
    expect(err.name).toBe('HarnessError');
  });
});
