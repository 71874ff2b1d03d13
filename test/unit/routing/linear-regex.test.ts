import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compileLinearRegex,
  literalPrefix,
  literalSuffix,
} from '../../../src/routing/linear-regex.ts';

describe('linear-time route regexes', () => {
  it('anchors the pattern at both ends and counts its groups', () => {
    const { regex, groups } = compileLinearRegex('/users/([0-9]+)(/(posts))?');
    assert.equal(groups, 3);
    assert.ok(regex.test('/users/1/posts'));
    assert.ok(!regex.test('/users/1/posts/x'));
    assert.ok(!regex.test('/x/users/1'));
    assert.equal(compileLinearRegex('^/a(?:b)$').groups, 0);
  });

  it('refuses what cannot run in linear time, and what does not compile', () => {
    assert.throws(() => compileLinearRegex('(a)\\1'), /cannot run in linear time/);
    assert.throws(() => compileLinearRegex('(?=a)b'), /cannot run in linear time/);
    assert.throws(() => compileLinearRegex('x'.repeat(1025)), /longer than 1024/);
    assert.throws(() => compileLinearRegex('a)|(b'), /not a valid regular expression/);
  });

  it('finds the literal every match starts with, conservatively', () => {
    assert.equal(literalPrefix('^/users/([0-9]+)$'), '/users/');
    assert.equal(literalPrefix('/users?'), '/user');
    assert.equal(literalPrefix('/users*x'), '/user');
    assert.equal(literalPrefix('/users{0,2}'), '/user');
    assert.equal(literalPrefix('/users+'), '/users');
    assert.equal(literalPrefix('/a|/b'), '');
    assert.equal(literalPrefix('(/a)'), '');
    assert.equal(literalPrefix('\\/a'), '');
    assert.equal(literalPrefix('/a.b'), '/a');
  });

  it('finds the literal every match ends with, conservatively', () => {
    assert.equal(literalSuffix('^/users/([0-9]+)/posts$'), '/posts');
    assert.equal(literalSuffix('^/users/([0-9]+)/posts'), '/posts');
    assert.equal(literalSuffix('/report.pdf'), 'pdf');
    assert.equal(literalSuffix('/a/b?'), '');
    assert.equal(literalSuffix('/a/b{2}'), '');
    assert.equal(literalSuffix('/a\\$'), '');
    assert.equal(literalSuffix('/a/\\x41'), '', "an escape's argument is not a literal");
    assert.equal(literalSuffix('/a/\\u0041bc'), '');
    assert.equal(literalSuffix('/[a-z]+/\\d{2}/index.html$'), 'html');
    assert.equal(literalSuffix('/a|/b'), '');
  });

  it('a path without the literal prefix or suffix is never a match', () => {
    const patterns = [
      '/users?/[0-9]+',
      '^/api/v[12]/x$',
      '/files/.*',
      '/a/\\x41',
      '/(a|b)c/d\\.txt$',
    ];
    const paths = ['/user/1', '/users/22', '/api/v1/x', '/files/', '/u', '/', '/a/A', '/ac/d.txt'];
    for (const pattern of patterns) {
      const { regex, prefix, suffix } = compileLinearRegex(pattern);
      for (const path of paths) {
        if (!regex.test(path)) continue;
        assert.ok(path.startsWith(prefix), `${pattern} ${path} prefix ${prefix}`);
        assert.ok(path.endsWith(suffix), `${pattern} ${path} suffix ${suffix}`);
      }
    }
    assert.ok(compileLinearRegex('/a/\\x41').regex.test('/a/A'), 'the check above meets a match');
  });
});
