import { createRequire } from 'node:module';
import jsYaml from 'js-yaml';
import type * as Yaml from 'yaml';
import type { Document, LineCounter } from 'yaml';
import { ProxyError } from '../errors.ts';
import { LIMITS } from './limits.ts';

/** A parsed YAML document: its plain value, and a way back from a value path to its line. */
export interface ParsedConfig {
  readonly value: unknown;
  readonly lineOf: (path: readonly (string | number)[]) => number | undefined;
}

/**
 * Parses YAML into plain data. Duplicate keys are errors (the last one silently winning hides
 * typos); alias expansion is bounded so an alias bomb fails in milliseconds instead of
 * exhausting memory.
 *
 * Two parsers, for speed: js-yaml builds plain data ten times faster than `yaml` builds its
 * document tree (0.2 s against 3 s for a 10,000-site file), so it carries every valid config.
 * `yaml` keeps the source positions, so it produces every error message and line: it runs
 * when js-yaml refuses the text, and lazily when validation needs a line number.
 */
export function parseConfigYaml(bytes: Buffer, sourceName: string): ParsedConfig {
  const text = bytes.toString('utf8');
  let value: unknown;
  try {
    // CORE_SCHEMA is YAML 1.2's core schema, the one `yaml` uses: no merge keys, no timestamps.
    value = jsYaml.load(text, { schema: jsYaml.CORE_SCHEMA, json: false });
  } catch {
    return parseWithPositions(text, sourceName);
  }
  // Aliases share one object, so a bomb is small in memory but huge to walk (and joi would
  // walk it). A document without aliases has fewer values than bytes; more means expansion,
  // and the careful parser, with its alias cap, decides.
  if (!fitsExpansionBudget(value, text.length + 1_000)) return parseWithPositions(text, sourceName);
  let positions: ReturnType<typeof parseDocumentWithLines> | undefined;
  return {
    value,
    lineOf: (path) => {
      positions ??= parseDocumentWithLines(text);
      return findLine(positions.doc, positions.lineCounter, path);
    },
  };
}

/** The careful parser: exact messages and lines for every syntax error. */
function parseWithPositions(text: string, sourceName: string): ParsedConfig {
  const { doc, lineCounter } = parseDocumentWithLines(text);
  const first = doc.errors[0];
  if (first !== undefined) {
    // prettyErrors appends "at line L, column C:" and a code frame; keep the first line only.
    const reason = firstLine(first.message).replace(/:$/, '');
    throw new ProxyError('ERR_CONFIG_PARSE', `${sourceName}: invalid YAML: ${reason}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: LIMITS.maxAliasCount });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ProxyError('ERR_CONFIG_PARSE', `${sourceName}: ${reason}`);
  }
  // An alias inside its own anchor (`&a [*a]`) makes a cycle that no alias count catches.
  if (!fitsExpansionBudget(value, text.length + 1_000)) {
    throw new ProxyError(
      'ERR_CONFIG_PARSE',
      `${sourceName}: aliases expand beyond the file's size`,
    );
  }
  return { value, lineOf: (path) => findLine(doc, lineCounter, path) };
}

// `yaml` is loaded on the first error or line lookup only: a proxy whose configs are all valid
// never loads it (~2 MB of RSS measured idle).
let yamlModule: typeof Yaml | undefined;
function yaml(): typeof Yaml {
  yamlModule ??= createRequire(import.meta.url)('yaml') as typeof Yaml;
  return yamlModule;
}

function parseDocumentWithLines(text: string): { doc: Document; lineCounter: LineCounter } {
  const { LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    uniqueKeys: true,
    prettyErrors: true,
    strict: true,
  });
  return { doc, lineCounter };
}

/** Walks the value as a consumer would (following shared references), up to `budget` values. */
function fitsExpansionBudget(root: unknown, budget: number): boolean {
  let left = budget;
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    if (--left < 0) return false;
    const value = stack.pop();
    if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
    } else if (value !== null && typeof value === 'object') {
      for (const item of Object.values(value)) stack.push(item);
    }
  }
  return true;
}

/** The line of the deepest node that exists along `path` (a missing key points at its parent). */
function findLine(
  doc: Document,
  lineCounter: LineCounter,
  path: readonly (string | number)[],
): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
    if (yaml().isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
  }
  return undefined;
}

function firstLine(message: string): string {
  return message.split('\n', 1)[0] ?? message;
}
