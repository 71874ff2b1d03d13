/**
 * A 64 KB HTML page for the compression scenario: markup, prose and a table from a seeded
 * generator, so that it compresses as real pages do (about 4-6x with gzip), unlike the
 * scenario bodies of one repeated letter, which any level shrinks a thousandfold.
 */
const WORDS = (
  'the proxy route upstream request response header body client server stream buffer ' +
  'config reload worker socket certificate health timeout retry budget latency error ' +
  'cache policy session token cookie origin domain path query method status content ' +
  'encoding compress length range vary agent address network listener metric counter'
).split(' ');

/** `bytes` of HTML (exactly), the same on every call. */
export function htmlBody(bytes = 64 * 1024): Buffer {
  let seed = 0x2545f491;
  const next = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const sentence = (): string => {
    const words: string[] = [];
    for (let i = 0, n = 6 + next(14); i < n; i++) words.push(WORDS[next(WORDS.length)] as string);
    const text = words.join(' ');
    return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
  };
  let html =
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<title>Bench page</title><link rel="stylesheet" href="/static/site.css"></head>\n<body>\n' +
    '<nav class="top"><ul><li><a href="/">Home</a></li><li><a href="/docs/">Docs</a></li>' +
    '<li><a href="/blog/">Blog</a></li></ul></nav>\n<main>\n';
  let row = 0;
  while (html.length < bytes) {
    html += `<article id="post-${row}" class="post"><h2>${sentence()}</h2>\n`;
    for (let p = 0, n = 1 + next(3); p < n; p++) {
      html += `<p>${sentence()} ${sentence()} ${sentence()}</p>\n`;
    }
    html += '<table class="stats"><tr><th>Metric</th><th>Value</th><th>Change</th></tr>\n';
    for (let r = 0, n = 2 + next(4); r < n; r++) {
      const name = WORDS[next(WORDS.length)] as string;
      html += `<tr><td>${name}_total</td><td>${next(100_000)}</td><td>${next(200) - 100}%</td></tr>\n`;
    }
    html += '</table></article>\n';
    row++;
  }
  const tail = '</main></body></html>\n';
  return Buffer.from(html.slice(0, bytes - tail.length) + tail);
}
