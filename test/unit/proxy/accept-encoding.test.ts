import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { negotiateEncoding } from '../../../src/proxy/accept-encoding.ts';

const pick = (...values: string[]) =>
  negotiateEncoding(values.flatMap((v) => ['Accept-Encoding', v]));

describe('Accept-Encoding negotiation', () => {
  const cases: [string, string[], 'br' | 'gzip' | undefined][] = [
    ['no header: the body as it is', [], undefined],
    ['an empty header: the body as it is', [''], undefined],
    ['gzip only', ['gzip'], 'gzip'],
    ['br only', ['br'], 'br'],
    ['both at the same weight: br', ['gzip, deflate, br'], 'br'],
    ['gzip weighted higher wins', ['br;q=0.5, gzip;q=0.9'], 'gzip'],
    ['br weighted higher wins', ['gzip;q=0.2, br;q=0.8'], 'br'],
    ['q=0 refuses a coding', ['br;q=0, gzip'], 'gzip'],
    ['q=0 on both: as it is', ['br;q=0, gzip;q=0'], undefined],
    ['* covers what is not listed', ['*'], 'br'],
    ['*;q=0 with gzip listed', ['gzip, *;q=0'], 'gzip'],
    ['* does not undo an explicit q=0', ['br;q=0, *'], 'gzip'],
    ['identity only', ['identity'], undefined],
    ['identity preferred to gzip', ['gzip;q=0.5, identity'], undefined],
    ['gzip and identity at the same weight: gzip', ['gzip, identity'], 'gzip'],
    ['x-gzip is gzip', ['x-gzip'], 'gzip'],
    ['case and spaces do not matter', ['  GZIP ; Q=0.7 , Br;q=0.6'], 'gzip'],
    ['unknown codings are ignored', ['deflate, zstd'], undefined],
    ['a malformed weight ignores its entry', ['br;q=2, gzip;q=abc, gzip;q=0.1'], 'gzip'],
    ['several header lines are one list', ['br;q=0', 'gzip'], 'gzip'],
  ];
  for (const [title, values, expected] of cases) {
    it(title, () => assert.equal(pick(...values), expected, values.join(' | ')));
  }

  it('reads only Accept-Encoding among other headers', () => {
    assert.equal(negotiateEncoding(['Accept', 'gzip', 'accept-encoding', 'br']), 'br');
  });
});
