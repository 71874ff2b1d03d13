#!/usr/bin/env bash
# Regenerates k8s/reverse-proxy.yaml, the plain manifests, from the Helm chart, so the two
# never drift (a test compares them). Kubernetes >= 1.29 (native sidecar), namespace
# "reverse-proxy", release name "reverse-proxy", default values plus k8s/values.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
{
  cat <<'HEAD'
# Plain manifests for reverse-proxy, generated from helm/reverse-proxy by
# scripts/render-k8s.sh (do not edit by hand; edit the chart or k8s/values.yaml).
# Apply: kubectl create namespace reverse-proxy && kubectl apply -n reverse-proxy -f k8s/
HEAD
  ./node_modules/.bin/helm template reverse-proxy helm/reverse-proxy \
    --namespace reverse-proxy --kube-version 1.30.0 --no-hooks -f k8s/values.yaml |
    grep -v -E '^\s*(helm\.sh/chart|app\.kubernetes\.io/managed-by):'
} >k8s/reverse-proxy.yaml
