import { configSchema, siteSchema } from './schema.ts';

/** The parts of joi's `describe()` output that error messages read. */
export interface SchemaNode {
  readonly type?: string;
  readonly keys?: Readonly<Record<string, SchemaNode>>;
  readonly items?: readonly SchemaNode[];
  readonly matches?: readonly {
    readonly schema?: SchemaNode;
    readonly then?: SchemaNode;
    readonly otherwise?: SchemaNode;
  }[];
  readonly rules?: readonly {
    readonly name: string;
    readonly args?: { readonly limit?: number };
  }[];
  readonly allow?: readonly unknown[];
  readonly flags?: { readonly only?: boolean };
  readonly preferences?: { readonly messages?: Readonly<Record<string, unknown>> };
}

// Described on the first error only: a config that validates never pays for it.
let described: { config: SchemaNode; site: SchemaNode } | undefined;

/**
 * The schema of the value at `path` in a config, or undefined where the schema has none
 * (inside a header map, past a scalar). Sites are validated on their own schema
 * (site-validator.ts), so `sites[i]...` is looked up in that one.
 */
export function schemaAt(path: readonly (string | number)[]): SchemaNode | undefined {
  described ??= {
    config: configSchema.describe() as SchemaNode,
    site: siteSchema.describe() as SchemaNode,
  };
  const inSite = path[0] === 'sites' && typeof path[1] === 'number';
  let node: SchemaNode | undefined = inSite ? described.site : described.config;
  for (const part of inSite ? path.slice(2) : path) {
    node = typeof part === 'number' ? node?.items?.[0] : keyOf(node, part);
  }
  return node;
}

/**
 * A key of an object node, or of the first branch of an alternatives node that has it (an
 * upstream entry is `{url, weight}` or `{service, port, weight}`: either one's `weight`).
 */
function keyOf(node: SchemaNode | undefined, key: string): SchemaNode | undefined {
  const own = node?.keys?.[key];
  if (own !== undefined || node?.matches === undefined) return own;
  for (const match of node.matches) {
    for (const branch of [match.schema, match.then, match.otherwise]) {
      const found = branch?.keys?.[key];
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
