import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FAILURE_TEXT_MAX, fileFailureReason } from '../lib/vitest-report.mjs';

describe('fileFailureReason', () => {
  test('names the first failed test and the first line of its error, without colours', () => {
    const reason = fileFailureReason({
      status: 'failed',
      assertionResults: [
        { status: 'passed', fullName: 'a', failureMessages: [] },
        {
          status: 'failed',
          fullName: 'NATS killed: every order displayed',
          failureMessages: ['\n\x1b[31mHarnessError\x1b[39m: waitFor timed out: retry of nk-1 answered 409\n    at waitFor (wait-for.ts:49:9)'],
        },
        { status: 'failed', fullName: 'later', failureMessages: ['other'] },
      ],
    });
    assert.equal(reason, '✗ NATS killed: every order displayed: HarnessError: waitFor timed out: retry of nk-1 answered 409');
  });

  test('cuts a long message', () => {
    const reason = fileFailureReason({ status: 'failed', assertionResults: [{ status: 'failed', fullName: 't', failureMessages: ['x'.repeat(FAILURE_TEXT_MAX + 50)] }] });
    assert.equal(reason, `✗ t: ${'x'.repeat(FAILURE_TEXT_MAX)}…`);
  });

  test('a failed test without a message is named alone', () => {
    assert.equal(fileFailureReason({ status: 'failed', assertionResults: [{ status: 'failed', fullName: 't' }] }), '✗ t');
  });

  test('without a failed test: the file error (a hook, an import), else the status', () => {
    assert.equal(fileFailureReason({ status: 'failed', message: 'Hook timed out in 120000ms\nmore', assertionResults: [] }), 'Hook timed out in 120000ms');
    assert.equal(fileFailureReason({ status: 'failed' }), 'failed');
  });
});
