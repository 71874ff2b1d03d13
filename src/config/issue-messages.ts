import type { ValidationErrorItem } from 'joi';
import { nearestKey } from './nearest-key.ts';
import { schemaAt } from './schema-at.ts';
import type { SchemaNode } from './schema-at.ts';

type Path = readonly (string | number)[];

/** One schema failure at its full path (a site's paths start with `sites[i]`). */
export interface SchemaFailure {
  readonly path: Path;
  readonly detail: ValidationErrorItem;
}

export interface SchemaFailureText {
  readonly path: Path;
  readonly message: string;
}

/**
 * joi's failures in an operator's words. joi speaks of its own types ("must be greater than
 * or equal to 1000", "must contain at least 1 items") and reports one wrong number twice (not
 * an integer, and too small); the operator wants the form the value must take, once, and the
 * key a typo meant. Ranges are read from the schema itself, so they cannot drift from it.
 */
export function describeFailures(failures: readonly SchemaFailure[]): SchemaFailureText[] {
  const seen = new Set<string>();
  const out: SchemaFailureText[] = [];
  for (const { path, detail } of failures) {
    const message = describeFailure(path, detail);
    const key = `${JSON.stringify(path)} ${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path, message });
  }
  return out;
}

function describeFailure(path: Path, detail: ValidationErrorItem): string {
  const context = detail.context ?? {};
  const limit = context.limit as number | undefined;
  const node = schemaAt(path);
  // A message the schema wrote for this very value says it best.
  if (node?.preferences?.messages?.[detail.type] !== undefined) return detail.message;
  switch (detail.type) {
    case 'object.unknown':
      return unknownKey(path, String(context.key ?? path[path.length - 1]));
    case 'boolean.base':
      return 'must be true or false';
    case 'array.base':
      return 'must be a list';
    case 'array.min':
      return limit === 1 ? 'must list at least one item' : `must list at least ${limit} items`;
    case 'array.max':
      return `must list at most ${limit} items`;
    case 'any.only':
      return `must be one of ${(context.valids as unknown[]).join(', ')}`;
    case 'string.max':
      return `must be at most ${limit} characters`;
    case 'string.empty':
      return 'must not be empty';
    case 'string.base':
      return notText(context.value);
    case 'alternatives.types':
      return `must be ${(context.types as string[]).map((t) => TYPE_NAMES[t] ?? t).join(' or ')}`;
  }
  if (detail.type.startsWith('number.')) {
    return numberForm(path, node) ?? numberFallback(detail.type, limit, detail.message);
  }
  return detail.message;
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
};

/** YAML reads `8080`, `true` or `1.0` unquoted as a number or a boolean, never as text. */
function notText(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean') {
    const kind = typeof value === 'number' ? 'a number' : 'a boolean';
    return `must be a string (YAML reads ${String(value)} as ${kind}; quote it if text is meant)`;
  }
  return 'must be a string';
}

function unknownKey(path: Path, key: string): string {
  const parent = schemaAt(path.slice(0, -1));
  const near = nearestKey(key, Object.keys(parent?.keys ?? {}));
  return near === undefined
    ? 'is not a known key'
    : `is not a known key; did you mean \`${near}\`?`;
}

/**
 * `must be a whole number of milliseconds, 1 to 600000`, `must be a whole number from 1 to
 * 1000`, `must be 0 or ...` for a choice of forms; undefined when the schema says too little.
 */
function numberForm(path: Path, node: SchemaNode | undefined): string | undefined {
  const key = path[path.length - 1];
  const ms = typeof key === 'string' && key.endsWith('_ms');
  const forms = node?.type === 'alternatives' ? (node.matches ?? []).map((m) => m.schema) : [node];
  const texts = forms.map((form) => (form?.type === 'number' ? oneForm(form, ms) : undefined));
  if (texts.length === 0 || texts.some((text) => text === undefined)) return undefined;
  return `must be ${texts.join(' or ')}`;
}

function oneForm(node: SchemaNode, ms: boolean): string | undefined {
  if (node.flags?.only === true) return node.allow?.join(' or ');
  const rule = (name: string) => node.rules?.find((r) => r.name === name);
  const min = rule('min')?.args?.limit;
  const max = rule('max')?.args?.limit;
  if (rule('integer') === undefined) {
    return min !== undefined && max !== undefined ? `a number from ${min} to ${max}` : undefined;
  }
  const kind = ms ? 'a whole number of milliseconds' : 'a whole number';
  if (min !== undefined && max !== undefined) {
    return ms ? `${kind}, ${min} to ${max}` : `${kind} from ${min} to ${max}`;
  }
  if (min !== undefined) return `${kind}, at least ${min}`;
  return max === undefined ? kind : `${kind}, at most ${max}`;
}

function numberFallback(type: string, limit: number | undefined, message: string): string {
  if (type === 'number.base') return 'must be a number';
  if (type === 'number.integer') return 'must be a whole number';
  if (type === 'number.min') return `must be at least ${limit}`;
  if (type === 'number.max') return `must be at most ${limit}`;
  return message;
}
