import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { catalogueCodes, checkErrorDocs, checkRepoErrorDocs, docRow, mentionedCodes } from '../check-error-docs.mjs';

const DOC = `
| code | status | meaning |
|---|---|---|
| \`ORDERWIRE_ERR_X_ONE\` | 400 | one |
| \`ORDERWIRE_ERR_X_TWO\` | 500 | two |
`;

const catalogue = (codes, status = true) => ({ name: 'X_ERRORS', doc: 'docs/x.md', status, codes });

describe('checkErrorDocs: catalogues and docs kept in step both ways', () => {
  test('a documented catalogue and docs naming only its codes pass', () => {
    const cat = catalogue([
      { code: 'ORDERWIRE_ERR_X_ONE', status: 400 },
      { code: 'ORDERWIRE_ERR_X_TWO', status: 500 },
    ]);
    const md = [{ path: 'README.md', text: 'see `ORDERWIRE_ERR_X_ONE` and every `ORDERWIRE_ERR_X_*`, named `ORDERWIRE_ERR_<AREA>_<WHAT>`' }];
    assert.deepEqual(checkErrorDocs([cat], () => DOC, md), []);
  });

  test('a code without a row, and a row with the wrong status, are reported', () => {
    const cat = catalogue([
      { code: 'ORDERWIRE_ERR_X_ONE', status: 409 },
      { code: 'ORDERWIRE_ERR_X_TWO', status: 500 },
      { code: 'ORDERWIRE_ERR_X_THREE', status: 503 },
    ]);
    assert.deepEqual(checkErrorDocs([cat], () => DOC, []), [
      'X_ERRORS: the row of ORDERWIRE_ERR_X_ONE in docs/x.md does not give its status 409',
      'X_ERRORS: ORDERWIRE_ERR_X_THREE has no row in docs/x.md',
    ]);
  });

  test('a prose mention is not a row; without a status column only the row is required', () => {
    const cat = catalogue([{ code: 'ORDERWIRE_ERR_X_ONE', status: 400 }], false);
    assert.deepEqual(checkErrorDocs([cat], () => 'throws `ORDERWIRE_ERR_X_ONE` when …', []), ['X_ERRORS: ORDERWIRE_ERR_X_ONE has no row in docs/x.md']);
    assert.deepEqual(checkErrorDocs([cat], () => '| `ORDERWIRE_ERR_X_ONE` | the first |', []), []);
  });

  test('a stale code or prefix in any Markdown file is reported', () => {
    const cat = catalogue([
      { code: 'ORDERWIRE_ERR_X_ONE', status: 400 },
      { code: 'ORDERWIRE_ERR_X_TWO', status: 500 },
    ]);
    const md = [
      { path: 'docs/x.md', text: `${DOC}| \`ORDERWIRE_ERR_X_GONE\` | 410 | removed long ago |\n` },
      { path: 'docs/y.md', text: 'codes `ORDERWIRE_ERR_Y_*`' },
    ];
    assert.deepEqual(checkErrorDocs([cat], () => DOC, md), [
      'docs/x.md: mentions ORDERWIRE_ERR_X_GONE, which no catalogue defines',
      'docs/y.md: mentions ORDERWIRE_ERR_Y_*, which no catalogue defines',
    ]);
  });
});

describe('catalogueCodes reads the three catalogue shapes', () => {
  test('defineErrors, a record keyed by code, a name → code map', () => {
    const defined = { codes: ['ORDERWIRE_ERR_A_B'], catalog: { ORDERWIRE_ERR_A_B: { status: 404, message: 'm' } } };
    assert.deepEqual(catalogueCodes(defined), [{ code: 'ORDERWIRE_ERR_A_B', status: 404 }]);
    assert.deepEqual(catalogueCodes({ ORDERWIRE_ERR_A_C: { status: 401, message: 'm' } }), [{ code: 'ORDERWIRE_ERR_A_C', status: 401 }]);
    assert.deepEqual(catalogueCodes({ ORDERWIRE_ERR_A_D: 'a message' }), [{ code: 'ORDERWIRE_ERR_A_D', status: undefined }]);
    assert.deepEqual(catalogueCodes({ PortInUse: 'ORDERWIRE_ERR_A_E' }), [{ code: 'ORDERWIRE_ERR_A_E', status: undefined }]);
  });

  test('docRow and mentionedCodes', () => {
    assert.deepEqual(docRow(DOC, 'ORDERWIRE_ERR_X_TWO'), ['`ORDERWIRE_ERR_X_TWO`', '500', 'two']);
    assert.equal(docRow(DOC, 'ORDERWIRE_ERR_X'), undefined);
    assert.deepEqual(mentionedCodes('`ORDERWIRE_ERR_A_B`, ORDERWIRE_ERR_A_*, ORDERWIRE_ERR_A_B'), ['ORDERWIRE_ERR_A_B', 'ORDERWIRE_ERR_A_*']);
  });
});

test('this repository: every code of every catalogue is documented, and no documented code is stale', async () => {
  assert.deepEqual(await checkRepoErrorDocs(), []);
});
