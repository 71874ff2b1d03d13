import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../helpers.ts';

export const HELM = join(ROOT, 'node_modules', '.bin', 'helm');
export const CHART = join(ROOT, 'helm', 'reverse-proxy');

/** A rendered Kubernetes object, loosely typed: the tests walk it like a document. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  spec?: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [key: string]: any;
}

export function helm(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(HELM, args, { encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `helm template` with the given flags; throws with helm's stderr when rendering fails. */
export function render(flags: string[] = [], kubeVersion = '1.30.0'): K8sObject[] {
  const result = helm([
    'template',
    'rp',
    CHART,
    '--namespace',
    'web',
    '--kube-version',
    kubeVersion,
    ...flags,
  ]);
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseManifests(result.stdout);
}

/**
 * The chart's NOTES.txt as `helm install` would print it. `helm template` never renders NOTES,
 * so a copy of the chart carries its text in a ConfigMap instead, rendered alone.
 */
export function renderNotes(flags: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), 'rp-notes-'));
  try {
    const chart = join(dir, 'reverse-proxy');
    cpSync(CHART, chart, { recursive: true });
    const notes = join(chart, 'templates', 'NOTES.txt');
    const text = readFileSync(notes, 'utf8');
    rmSync(notes);
    writeFileSync(
      join(chart, 'templates', '_notes.tpl'),
      `{{- define "notes" -}}\n${text}{{- end -}}\n`,
    );
    writeFileSync(
      join(chart, 'templates', 'notes.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: notes }\ndata:\n  notes: |\n' +
        '{{ include "notes" . | indent 4 }}\n',
    );
    const args = ['template', 'rp', chart, '--namespace', 'web', '--kube-version', '1.30.0'];
    const result = helm([...args, ...flags, '--show-only', 'templates/notes.yaml']);
    if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`);
    const [doc] = parseManifests(result.stdout);
    return String(doc?.data.notes);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((obj): obj is K8sObject => obj !== null);
}

export function findKind(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

/** The pod template's containers and init containers, each tagged with where it was found. */
export function podContainers(deployment: K8sObject) {
  const spec = deployment.spec.template.spec;
  return [
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    ...(spec.initContainers ?? []).map((c: any) => ({ ...c, init: true })),
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    ...spec.containers.map((c: any) => ({ ...c, init: false })),
  ];
}
