#!/usr/bin/env bash
# Runs `npm start` as the README says, curls through the proxy, talks to it over the admin
# socket in run/ (status, then a reload of an edited run/proxy.yaml), then stops it with
# SIGTERM and checks it exited cleanly. Used by .ci/run; handy by hand too.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
# Its own process group (npm -> sh -> node start.ts -> proxy), so it can be stopped as a whole.
setsid npm start >"$log" 2>&1 &
pid=$!
cleanup() { kill -TERM -- "-$pid" 2>/dev/null || true; rm -f "$log"; }
trap cleanup EXIT
ok=""
for _ in $(seq 1 150); do
  if reply=$(curl -fsS -H 'Host: demo.localhost' http://127.0.0.1:8080/hello 2>/dev/null); then ok=1; break; fi
  sleep 0.2
done
if [ -z "$ok" ]; then
  echo "smoke: the proxy did not answer within 30 s"; cat "$log"; exit 1
fi
echo "$reply"
grep -q '"upstream": "demo"' <<<"$reply"
# The health listener binds after the traffic listeners (src/serve.ts), so it may lag them.
for _ in $(seq 1 50); do curl -fsS http://127.0.0.1:9900/readyz >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS http://127.0.0.1:9900/readyz
echo
# The admin channel, with the README's commands (dist/cli.js runs on Node 24 only, so the
# README runs it with the node npm ci installed, whatever the system's node is).
ctl() { ./node_modules/.bin/node dist/cli.js ctl -s run/admin.sock "$@"; }
[ "$(stat -c %a run)" = 700 ] || { echo "smoke: run/ is not 0700"; exit 1; }
status=$(ctl status) || { echo "smoke: ctl status failed ($(./node_modules/.bin/node --version)): $status"; cat "$log"; exit 1; }
echo "ctl status: $status"
grep -q '"generation":1' <<<"$status"
# A second start while this one runs is refused before it touches anything: no rebuild of
# dist/ (the prestart check), no rewrite of run/proxy.yaml under the running proxy.
served=$(sha256sum run/proxy.yaml)
if second=$(npm start 2>&1); then echo "smoke: a second npm start was not refused: $second"; exit 1; fi
grep -q "a proxy is already running from this checkout" <<<"$second" ||
  { echo "smoke: the second npm start failed for another reason: $second"; exit 1; }
[ "$(sha256sum run/proxy.yaml)" = "$served" ] || { echo "smoke: the second npm start rewrote run/proxy.yaml"; exit 1; }
echo "second npm start: refused"
# Edit the served copy atomically, as the operator guide asks, then reload it.
sed 's/response_ms: 5000/response_ms: 4000/' run/proxy.yaml >run/proxy.yaml.new
mv run/proxy.yaml.new run/proxy.yaml
reload=$(ctl reload) || { echo "smoke: ctl reload failed: $reload"; cat "$log"; exit 1; }
echo "ctl reload: $reload"
grep -q '"outcome":"applied"' <<<"$reload"
ctl status | grep -q '"generation":2' || { echo "smoke: the reload did not make generation 2"; exit 1; }
# SIGTERM to the group, as a container runtime would; then wait for every process to end.
kill -TERM -- "-$pid"
for _ in $(seq 1 100); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 -- "-$pid" 2>/dev/null; then echo "smoke: still running 10 s after SIGTERM"; cat "$log"; exit 1; fi
grep -q "stopped: drained" "$log" || { echo "smoke: no clean drain in the log"; cat "$log"; exit 1; }
[ ! -e run/admin.sock ] || { echo "smoke: run/admin.sock was left behind"; exit 1; }
echo "smoke: ok"
