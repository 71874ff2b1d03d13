import { createRequire } from 'node:module';
import jsYaml from 'js-yaml';
import type * as Yaml from 'yaml';
import type { Document, LineCounter } from 'yaml';
import { ConfigParseError } from '../errors.ts';
import { deepFreeze } from './deep-freeze.ts';
import { GenerationalMemo } from './generational-memo.ts';
import { LIMITS } from './limits.ts';
import { splitSiteBlocks } from './site-blocks.ts';

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
    value = parseBySite(text) ?? loadPlain(text);
  } catch {
    return parseWithPositions(text, sourceName);
  }
  if (value === TOO_LARGE) return parseWithPositions(text, sourceName);
  let positions: ReturnType<typeof parseDocumentWithLines> | undefined;
  return {
    value,
    lineOf: (path) => {
      positions ??= parseDocumentWithLines(text);
      return findLine(positions.doc, positions.lineCounter, path);
    },
  };
}

/** Returned instead of a value whose aliases expand beyond its text's size. */
const TOO_LARGE = Symbol('expands beyond its size');

function loadPlain(text: string): unknown {
  // CORE_SCHEMA is YAML 1.2's core schema, the one `yaml` uses: no merge keys, no timestamps.
  const value = jsYaml.load(text, { schema: jsYaml.CORE_SCHEMA, json: false });
  // Aliases share one object, so a bomb is small in memory but huge to walk (and joi would
  // walk it). A document without aliases has fewer values than bytes; more means expansion,
  // and the careful parser, with its alias cap, decides.
  return fitsExpansionBudget(value, text.length + 1_000) ? value : TOO_LARGE;
}

/**
 * Entries of the top-level `sites:` sequence parsed in the last two parses, by their exact
 * text: the one serving and the one being loaded, as SiteValidator keeps its results. The
 * values are frozen, so sharing one between parses cannot leak an edit from one to the next.
 */
const parsedEntries = new GenerationalMemo<string, unknown>();

/**
 * The whole config from its pieces (site-blocks.ts): the skeleton and every changed entry
 * parsed on their own, unchanged entries taken from the last parses. Undefined when the file
 * does not have the plain layout or any piece does not parse on its own; the whole text is
 * then parsed as one, and that parse (or the careful one) decides what is wrong.
 */
function parseBySite(text: string): unknown {
  const blocks = splitSiteBlocks(text);
  if (blocks === undefined) return undefined;
  try {
    const skeleton = loadPlain(blocks.skeleton);
    if (!isPlainObject(skeleton) || !Object.hasOwn(skeleton, 'sites') || skeleton.sites !== null) {
      return undefined;
    }
    const sites: unknown[] = [];
    for (const entry of blocks.entries) {
      // js-yaml never yields undefined (an empty entry is null), so undefined means unknown.
      let site = parsedEntries.get(entry);
      if (site === undefined) {
        site = loadEntry(entry);
        if (site === TOO_LARGE) return undefined;
        parsedEntries.set(entry, site);
      }
      sites.push(site);
    }
    skeleton.sites = sites;
    return skeleton;
  } catch {
    return undefined;
  } finally {
    parsedEntries.endGeneration();
  }
}

function loadEntry(entry: string): unknown {
  const value = loadPlain(entry);
  if (value === TOO_LARGE) return TOO_LARGE;
  // An entry is one `- ` item at its indentation: on its own it is a one-item sequence.
  if (!Array.isArray(value) || value.length !== 1) throw new Error('not one sequence entry');
  return deepFreeze(value[0]);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The careful parser: exact messages and lines for every syntax error. */
function parseWithPositions(text: string, sourceName: string): ParsedConfig {
  const { doc, lineCounter } = parseDocumentWithLines(text);
  const first = doc.errors[0];
  if (first !== undefined) {
    // prettyErrors appends "at line L, column C:" and a code frame; the issue keeps the
    // reason, and the position as numbers.
    const reason = firstLine(first.message).replace(/ at line \d+, column \d+:?$/, '');
    const at = first.linePos?.[0];
    throw new ConfigParseError(sourceName, {
      message: `invalid YAML: ${reason}`,
      line: at?.line,
      column: at?.col,
    });
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: LIMITS.maxAliasCount });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigParseError(sourceName, { message: reason });
  }
  // An alias inside its own anchor (`&a [*a]`) makes a cycle that no alias count catches.
  if (!fitsExpansionBudget(value, text.length + 1_000)) {
    throw new ConfigParseError(sourceName, { message: "aliases expand beyond the file's size" });
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
