import { isNode, LineCounter, parseDocument } from 'yaml';
import type { Document } from 'yaml';
import { ProxyError } from '../errors.ts';
import { LIMITS } from './limits.ts';

/** A parsed YAML document: its plain value, and a way back from a value path to its line. */
export interface ParsedConfig {
  readonly value: unknown;
  readonly lineOf: (path: readonly (string | number)[]) => number | undefined;
}

/**
 * Parses YAML into plain data. Duplicate keys are errors (the last one silently winning hides
 * typos); alias expansion is capped so an alias bomb fails in milliseconds instead of
 * exhausting memory.
 */
export function parseConfigYaml(bytes: Buffer, sourceName: string): ParsedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(bytes.toString('utf8'), {
    lineCounter,
    uniqueKeys: true,
    prettyErrors: true,
    strict: true,
  });
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
  return { value, lineOf: (path) => findLine(doc, lineCounter, path) };
}

/** The line of the deepest node that exists along `path` (a missing key points at its parent). */
function findLine(
  doc: Document,
  lineCounter: LineCounter,
  path: readonly (string | number)[],
): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
    if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
  }
  return undefined;
}

function firstLine(message: string): string {
  return message.split('\n', 1)[0] ?? message;
}
