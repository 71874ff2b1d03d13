import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRequestParser, encodeReply } from '../../../src/admin/admin-protocol.ts';

describe('createRequestParser', () => {
  it('without a token, takes the line as the command, trimmed of blanks and \\r', () => {
    const parse = createRequestParser(undefined);
    assert.deepEqual(parse('status'), { command: 'status' });
    assert.deepEqual(parse(' reload\r'), { command: 'reload' });
    // A prefix is not special without a token: it is simply an unknown command.
    assert.deepEqual(parse('x:status'), { command: 'x:status' });
  });

  it('treats an empty token like no token', () => {
    assert.deepEqual(createRequestParser('')('status'), { command: 'status' });
  });

  const cases: [string, string, ReturnType<ReturnType<typeof createRequestParser>>][] = [
    ['the right token', 's3cret:status', { command: 'status' }],
    ['a missing token', 'status', { unauthorized: true }],
    ['an empty token', ':status', { unauthorized: true }],
    ['a wrong token', 'guess:status', { unauthorized: true }],
    ['a prefix of the token', 's3cre:status', { unauthorized: true }],
    ['the token with extra bytes', 's3cret!:status', { unauthorized: true }],
    ['the token then an unknown command', 's3cret:bogus', { command: 'bogus' }],
  ];
  for (const [name, line, expected] of cases) {
    it(`with a token set, ${name}: ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(createRequestParser('s3cret')(line), expected);
    });
  }

  it('splits at the last colon, so a token may contain colons', () => {
    const parse = createRequestParser('a:b:c');
    assert.deepEqual(parse('a:b:c:reload'), { command: 'reload' });
    assert.deepEqual(parse('a:b:reload'), { unauthorized: true });
  });
});

describe('encodeReply', () => {
  it('writes one JSON line', () => {
    assert.equal(encodeReply({ status: 'ok' }), '{"status":"ok"}\n');
  });
});
