#!/usr/bin/env bash
# Regenerates k8s/reverse-proxy.yaml, the plain manifests, from the Helm chart, so the two
# never drift (a test compares them). Kubernetes >= 1.29 (native sidecar), release name
# "reverse-proxy", default values plus deploy/k8s/values.yaml. The values file lives outside
# k8s/ because `kubectl apply -f k8s/` reads every YAML file there as a manifest. No object
# names a namespace: `kubectl apply -n` chooses it.
set -euo pipefail
cd "$(dirname "$0")/.."
{
  cat <<'HEAD'
# Plain manifests for reverse-proxy, generated from helm/reverse-proxy by
# scripts/render-k8s.sh (do not edit by hand; edit the chart or deploy/k8s/values.yaml).
# Apply into any namespace: kubectl create namespace web && kubectl apply -n web -f k8s/
HEAD
  ./node_modules/.bin/helm template reverse-proxy helm/reverse-proxy \
    --namespace reverse-proxy --kube-version 1.30.0 --no-hooks -f deploy/k8s/values.yaml |
    grep -v -E '^\s*(helm\.sh/chart|app\.kubernetes\.io/managed-by):'
} >k8s/reverse-proxy.yaml
