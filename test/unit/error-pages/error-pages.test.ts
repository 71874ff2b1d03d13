import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkConfig } from '../../../src/config/check.ts';
import { parseConfigYaml } from '../../../src/config/parse.ts';
import { validateConfig } from '../../../src/config/validate.ts';
import { compileSnapshot } from '../../../src/config/snapshot.ts';
import type { PageFileSet } from '../../../src/error-pages/page-files.ts';
import { loadPageFiles, samePageFiles } from '../../../src/error-pages/page-files.ts';
import { errorPage } from '../../../src/error-pages/site-pages.ts';
import { ConfigInvalidError, formatIssue } from '../../../src/errors.ts';
import { snapshotData, snapshotFromData } from '../../../src/workers/snapshot-transfer.ts';

const yaml = (pages: string) => `listeners:
  - address: 127.0.0.1:8080
sites:
  - name: app
    hosts: [app.test]
    error_pages: { ${pages} }
    routes:
      - { path: /, upstream: "http://127.0.0.1:9" }
  - name: plain
    hosts: [plain.test]
    routes:
      - { path: /, upstream: "http://127.0.0.1:9" }
`;

const check = (pages: string, previous?: PageFileSet) =>
  checkConfig(
    Buffer.from(yaml(pages)),
    't',
    { allowWildcardBind: false },
    undefined,
    undefined,
    previous,
  );

/** The config alone: its files not read. */
const configOf = (pages: string) =>
  validateConfig(parseConfigYaml(Buffer.from(yaml(pages)), 't'), { allowWildcardBind: false });

describe('error pages', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rp-pages-'));
    await writeFile(join(dir, 'a.html'), '<p>a</p>');
    await writeFile(join(dir, 'b.json'), '{"b":1}');
    await writeFile(join(dir, 'c.txt'), 'c');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('spreads a class over its statuses, a status named itself winning, and types each by its extension', () => {
    const { config, certificates, htpasswd, pages } = check(
      `4xx: ${dir}/a.html, 404: ${dir}/b.json, 503: ${dir}/c.txt`,
    );
    const table = compileSnapshot(config, 'x', 1, certificates, htpasswd, pages).sitePages;
    const typeOf = (status: number) => errorPage(table, 'app', status)?.contentType;
    assert.deepEqual([401, 403, 404, 413, 429, 502, 503, 504].map(typeOf), [
      'text/html; charset=utf-8',
      'text/html; charset=utf-8',
      'application/json',
      'text/html; charset=utf-8',
      'text/html; charset=utf-8',
      undefined,
      'text/plain; charset=utf-8',
      undefined,
    ]);
    assert.equal(errorPage(table, 'plain', 404), undefined, 'a site without pages');
    assert.equal(errorPage(table, undefined, 404), undefined, 'no site');
    assert.equal(errorPage(table, 'app', 400), undefined, 'a status pages cannot take');
  });

  it('reads a file named twice once', () => {
    const { pages } = check(`404: ${dir}/a.html, 5xx: ${dir}/a.html`);
    assert.deepEqual([...pages.files.keys()], [`${dir}/a.html`]);
  });

  it('on a reload keeps a page that broke, with a warning, keeps unchanged bytes as the same object, and refuses a new file that is broken', async () => {
    const file = join(dir, 'r.html');
    await writeFile(file, 'one');
    const first = check(`404: ${file}`).pages;
    const again = loadPageFiles(configOf(`404: ${file}`), first);
    assert.equal(again.files.get(file), first.files.get(file));
    assert.ok(samePageFiles(first, again));
    await writeFile(file, '');
    const broken = loadPageFiles(configOf(`404: ${dir}/a.html`), first);
    assert.equal(broken.warnings.length, 0, 'another path: not this file');
    const kept = loadPageFiles(configOf(`404: ${dir}/a.html, 502: ${file}`), first);
    assert.equal(kept.files.get(file), first.files.get(file));
    assert.deepEqual(kept.warnings.map(formatIssue), [
      `sites[0].error_pages.502: ${file} is empty; the page loaded before stays in force`,
    ]);
    assert.ok(!samePageFiles(first, kept));
    assert.throws(
      () => check(`404: ${file}`),
      (err: unknown) =>
        err instanceof ConfigInvalidError &&
        /is empty/.test(err.message + JSON.stringify(err.issues)),
    );
  });

  it('cross to a worker as plain data and compile there to the same pages', () => {
    const { config, certificates, htpasswd, pages } = check(`404: ${dir}/a.html`);
    const snapshot = compileSnapshot(config, 'x', 1, certificates, htpasswd, pages);
    const data = structuredClone(snapshotData(snapshot));
    const worker = snapshotFromData(data);
    const page = errorPage(worker.sitePages, 'app', 404);
    assert.ok(Buffer.isBuffer(page?.body));
    assert.equal(page?.body.toString(), '<p>a</p>');
    // A worker that holds the same bytes keeps its object.
    assert.equal(
      snapshotFromData(data, worker).pageFiles.files.get(`${dir}/a.html`),
      worker.pageFiles.files.get(`${dir}/a.html`),
    );
  });
});
