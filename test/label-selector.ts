/**
 * Kubernetes label selectors as the API server parses them (k8s.io/apimachinery labels.Parse),
 * for the fake API: equality (`k=v`, `k==v`, `k!=v`), set-based (`k in (a,b)`, `k notin (a)`),
 * existence (`k`, `!k`), requirements joined by commas. A selector it cannot parse is an error
 * worded like the server's 400.
 */
export type Requirement =
  | { readonly key: string; readonly op: 'in' | 'notin'; readonly values: readonly string[] }
  | { readonly key: string; readonly op: 'exists' | '!exists' };

const KEY = /^(?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^(?:[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

export function parseLabelSelector(text: string): Requirement[] | { error: string } {
  const requirements: Requirement[] = [];
  // Split on the commas outside parentheses.
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
    else if (text[i] === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
    if (depth < 0 || depth > 1) return { error: `unable to parse requirement: ${text}` };
  }
  parts.push(text.slice(start));
  if (text.trim() === '') return [];
  for (const raw of parts) {
    const part = raw.trim();
    const parsed = parseRequirement(part);
    if ('error' in parsed) return parsed;
    requirements.push(parsed);
  }
  return requirements;
}

function parseRequirement(part: string): Requirement | { error: string } {
  const bad = (why: string) => ({ error: `unable to parse requirement: ${why}` });
  const set = /^(\S+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(part);
  if (set !== null) {
    const [, key = '', op, list = ''] = set;
    const values = list.split(',').map((v) => v.trim());
    if (!KEY.test(key)) return bad(`invalid label key "${key}"`);
    if (values.some((v) => !VALUE.test(v))) return bad(`invalid label value in "${part}"`);
    // `in ()` is `in ("")` to apimachinery's parser (a label with an empty value): kube-apiserver
    // 1.24 answers it with 200 and, for the slices' labels, no items.
    return { key, op: op as 'in' | 'notin', values };
  }
  const eq = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
  if (eq !== null) {
    const [, key = '', op, value = ''] = eq;
    if (!KEY.test(key)) return bad(`invalid label key "${key}"`);
    if (!VALUE.test(value)) return bad(`invalid label value: "${value}"`);
    return { key, op: op === '!=' ? 'notin' : 'in', values: [value] };
  }
  const exists = /^(!?)\s*(\S+)$/.exec(part);
  if (exists !== null && KEY.test(exists[2] ?? '')) {
    return { key: exists[2] ?? '', op: exists[1] === '!' ? '!exists' : 'exists' };
  }
  return bad(`"${part}"`);
}

export function matchesLabels(
  requirements: readonly Requirement[],
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  return requirements.every((r) => {
    const value = labels?.[r.key];
    switch (r.op) {
      case 'exists':
        return value !== undefined;
      case '!exists':
        return value === undefined;
      case 'in':
        return value !== undefined && r.values.includes(value);
      case 'notin':
        return value === undefined || !r.values.includes(value);
    }
  });
}
