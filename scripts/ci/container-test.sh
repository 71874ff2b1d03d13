#!/usr/bin/env bash
# Builds the real image on a machine with no registry access and tests it as operators run it:
# read-only, non-root, no capabilities; curl through it; ctl over the socket, with the
# documented tmpfs and with nothing but --read-only (the image's VOLUME); prompt SIGTERM exit;
# then the compose stack, changing a route through the sidecar.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
t0=$(date +%s); step() { printf '\n== [container %3ss] %s\n' "$(($(date +%s) - t0))" "$*"; }
fail() { echo "container-test: $*" >&2; exit 1; }

step "install docker, docker-compose and debootstrap from Debian's packages"
if ! command -v dockerd >/dev/null || ! command -v docker-compose >/dev/null || ! command -v debootstrap >/dev/null; then
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 \
    --no-install-recommends docker.io docker-compose debootstrap >/dev/null
fi
# Debian's CLI first: it carries BuildKit support and compose v1 shells out to it.
export PATH=/usr/bin:$PATH

DOCKERD_PID=""
WORK=$(mktemp -d)
cleanup() {
  set +e
  (cd "$ROOT" && CONFIG_DIR="$WORK/config" PROXY_PORT=18081 PROXY_TLS_PORT=18444 docker-compose -p rpci down -v -t 5 >/dev/null 2>&1)
  docker rm -f -v rp-ci-proxy rp-ci-proxy-ro rp-ci-upstream >/dev/null 2>&1
  docker network rm rp-ci >/dev/null 2>&1
  if [ -n "$DOCKERD_PID" ]; then kill "$DOCKERD_PID"; wait "$DOCKERD_PID" 2>/dev/null; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if ! docker info >/dev/null 2>&1; then
  step "start dockerd"
  dockerd >"$WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 1 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  docker info >/dev/null || { cat "$WORK/dockerd.log"; fail "dockerd did not start"; }
fi

step "base images: debian from the apt mirror, node:24-bookworm-slim from the npm registry"
bash scripts/ci/make-base-image.sh
bash scripts/ci/make-node-image.sh

step "build the Dockerfile with the legacy builder and with BuildKit"
DOCKER_BUILDKIT=0 docker build -q -t reverse-proxy:local . >/dev/null
DOCKER_BUILDKIT=1 docker build -q -t reverse-proxy:local . >/dev/null
docker image ls reverse-proxy:local

step "run read-only, non-root, no capabilities; curl through it"
docker network create rp-ci >/dev/null
docker run -d --name rp-ci-upstream --network rp-ci --read-only --cap-drop ALL \
  --entrypoint node reverse-proxy:local \
  -e "require('node:http').createServer((q,s)=>s.end('upstream '+q.url)).listen(8081)" >/dev/null
mkdir -p "$WORK/etc"
cat >"$WORK/etc/proxy.yaml" <<'YAML'
listeners:
  - address: 0.0.0.0:8080
health:
  address: 0.0.0.0:9900
sites:
  - name: ci
    hosts: ["*"]
    routes:
      - path: /
        upstream: http://rp-ci-upstream:8081
YAML
chmod 0644 "$WORK/etc/proxy.yaml"
docker run -d --name rp-ci-proxy --network rp-ci --read-only --cap-drop ALL \
  --security-opt no-new-privileges --tmpfs /run/reverse-proxy:uid=10001,gid=10001,mode=0700 \
  -v "$WORK/etc/proxy.yaml:/etc/reverse-proxy/proxy.yaml:ro" \
  -p 127.0.0.1:18080:8080 reverse-proxy:local >/dev/null
reply=""
for _ in $(seq 1 50); do reply=$(curl -fsS http://127.0.0.1:18080/hello 2>/dev/null) && break; sleep 0.2; done
[ "$reply" = "upstream /hello" ] || { docker logs rp-ci-proxy; fail "curl through the proxy got: $reply"; }
echo "curl: $reply"
[ "$(docker exec rp-ci-proxy id -u)" = "10001" ] || fail "not running as uid 10001"
docker exec rp-ci-proxy sh -c 'touch /x 2>/dev/null' && fail "root filesystem is writable"
status=$(docker exec rp-ci-proxy reverse-proxy ctl status) || fail "ctl status failed: $status"
echo "ctl status: $status"
grep -q '"status":"ok"' <<<"$status"
docker exec rp-ci-proxy reverse-proxy ctl reload | grep -q '"status":"ok"' || fail "ctl reload failed"
# The tmpfs replaces the image's VOLUME: no anonymous volume is made for this container.
docker exec rp-ci-proxy grep -q '^tmpfs /run/reverse-proxy ' /proc/mounts || fail "--tmpfs is not what serves /run/reverse-proxy"
[ -z "$(docker inspect -f '{{range .Mounts}}{{if eq .Destination "/run/reverse-proxy"}}{{.Type}}{{end}}{{end}}' rp-ci-proxy)" ] \
  || fail "a volume was mounted at /run/reverse-proxy besides the --tmpfs"

step "run with nothing but --read-only: the image's VOLUME holds the admin socket"
docker run -d --name rp-ci-proxy-ro --network rp-ci --read-only --cap-drop ALL \
  --security-opt no-new-privileges \
  -v "$WORK/etc/proxy.yaml:/etc/reverse-proxy/proxy.yaml:ro" reverse-proxy:local >/dev/null
status=""
for _ in $(seq 1 50); do status=$(docker exec rp-ci-proxy-ro reverse-proxy ctl status 2>&1) && break; sleep 0.2; done
grep -q '"status":"ok"' <<<"$status" || { docker logs rp-ci-proxy-ro; fail "ctl status in the plain --read-only run: $status"; }
echo "ctl status: $status"
docker exec rp-ci-proxy-ro reverse-proxy ctl reload | grep -q '"status":"ok"' || fail "ctl reload in the plain --read-only run failed"
mount=$(docker inspect -f '{{range .Mounts}}{{if eq .Destination "/run/reverse-proxy"}}{{.Type}} rw={{.RW}}{{end}}{{end}}' rp-ci-proxy-ro)
[ "$mount" = "volume rw=true" ] || fail "/run/reverse-proxy is not the image's volume: '$mount'"
# A new volume starts with the image directory's owner and mode, as the proxy requires.
perms=$(docker exec rp-ci-proxy-ro stat -c '%a %u:%g' /run/reverse-proxy)
echo "/run/reverse-proxy: $mount, mode and owner $perms"
[ "$perms" = "700 10001:10001" ] || fail "the volume did not take the image's mode and owner: $perms"
docker rm -f -v rp-ci-proxy-ro >/dev/null

step "docker stop: SIGTERM drains and exits 0 well before the kill timeout"
start=$(date +%s%N)
docker stop -t 10 rp-ci-proxy >/dev/null
ms=$((($(date +%s%N) - start) / 1000000))
code=$(docker inspect -f '{{.State.ExitCode}}' rp-ci-proxy)
echo "stopped in ${ms} ms, exit code $code"
[ "$code" = 0 ] || { docker logs rp-ci-proxy; fail "exit code $code"; }
[ "$ms" -lt 5000 ] || fail "docker stop took ${ms} ms: SIGTERM was not handled"
docker logs rp-ci-proxy 2>&1 | grep -q '"stopped: drained"' || fail "no drain in the log"

step "compose: proxy + sidecar (volume mode) + upstreams; change a route through the sidecar"
cp -r deploy/compose/config "$WORK/config"
chmod 0755 "$WORK/config"; chmod 0644 "$WORK/config/proxy.yaml"
export CONFIG_DIR="$WORK/config" PROXY_PORT=18081 PROXY_TLS_PORT=18444
docker-compose -p rpci up -d 2>&1 | tail -3
reply=""
for _ in $(seq 1 100); do reply=$(curl -fsS http://127.0.0.1:18081/x 2>/dev/null) && break; sleep 0.3; done
[ "$reply" = "blue /x" ] || { docker-compose -p rpci logs --no-color | tail -40; fail "compose: first reply was: $reply"; }
echo "before: $reply"
# HTTPS on tls-init's certificate (made at start; -k: self-signed), HTTP/2 by ALPN and HTTP/1.1.
for version in 2 1.1; do
  reply=$(curl -fsSk "--http$version" -D "$WORK/headers" https://127.0.0.1:18444/x) \
    || { docker-compose -p rpci logs --no-color | tail -40; fail "compose: curl -k https (HTTP/$version) failed"; }
  status=$(head -1 "$WORK/headers" | tr -d '\r')
  echo "https, asked for HTTP/$version: $status, $reply"
  [ "$reply" = "blue /x" ] && [[ "$status" == "HTTP/$version 200"* ]] || fail "compose: https HTTP/$version got: $status, $reply"
done
subject=$(curl -sSkv https://127.0.0.1:18444/x 2>&1 >/dev/null | grep -m1 'subject:' || true)
echo "certificate: $subject"
grep -q 'CN=localhost' <<<"$subject" || fail "compose: not tls-init's certificate: $subject"
# Replace the file atomically, as an editor or a config tool should.
sed 's#http://blue:8081#http://green:8081#' "$WORK/config/proxy.yaml" >"$WORK/config/.proxy.yaml.new"
chmod 0644 "$WORK/config/.proxy.yaml.new"
mv "$WORK/config/.proxy.yaml.new" "$WORK/config/proxy.yaml"
for _ in $(seq 1 100); do reply=$(curl -fsS http://127.0.0.1:18081/x 2>/dev/null) && [ "$reply" = "green /x" ] && break; sleep 0.3; done
[ "$reply" = "green /x" ] || { docker-compose -p rpci logs --no-color | tail -40; fail "compose: the route did not move: $reply"; }
echo "after: $reply"
docker-compose -p rpci exec -T sidecar reverse-proxy ctl status | grep -q '"generation":2' \
  || fail "compose: ctl status from the sidecar container does not show generation 2"
docker-compose -p rpci down -v -t 10 >/dev/null 2>&1

step "done"
