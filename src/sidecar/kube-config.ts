import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { ProxyError } from '../errors.ts';

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/**
 * In-cluster credentials (the pod's service account) by default; KUBECONFIG when set, which is
 * how the sidecar runs outside a cluster and how tests point it at a fake API server. Unlike
 * client-node's loadFromDefault, there is no silent fallback to ~/.kube/config or to
 * http://localhost:8080: a sidecar with no credentials says so and exits.
 */
export function loadKubeConfig(env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (env.KUBECONFIG !== undefined && env.KUBECONFIG !== '') {
      kc.loadFromDefault(); // honours KUBECONFIG, including a path list
    } else if (env.KUBERNETES_SERVICE_HOST !== undefined && env.KUBERNETES_SERVICE_HOST !== '') {
      kc.loadFromCluster();
    } else {
      throw new Error(
        'not in a cluster (KUBERNETES_SERVICE_HOST is unset) and KUBECONFIG is unset',
      );
    }
  } catch (err) {
    throw new ProxyError('ERR_KUBE_CONFIG', `cannot load Kubernetes credentials: ${String(err)}`, {
      cause: err,
    });
  }
  if (kc.getCurrentCluster() === null) {
    throw new ProxyError('ERR_KUBE_CONFIG', 'the kubeconfig has no current cluster');
  }
  return kc;
}

/** --namespace, else the pod's own (service account), else the kubeconfig context's, else default. */
export function resolveNamespace(flag: string | undefined, kc: KubeConfig): string {
  if (flag !== undefined && flag !== '') return flag;
  try {
    const own = readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim();
    if (own !== '') return own;
  } catch {
    // Not in a pod: fall through to the kubeconfig.
  }
  return kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
}
