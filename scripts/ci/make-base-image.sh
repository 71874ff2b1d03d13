#!/usr/bin/env bash
# Builds a local debian:bookworm-slim look-alike from this machine's own apt mirror, for CI
# machines that reach Debian's packages but no container registry.
set -euo pipefail
ROOTFS=${ROOTFS:-/tmp/rp-rootfs}
TAG=${TAG:-local/debian:bookworm-slim}
if docker image inspect "$TAG" >/dev/null 2>&1; then echo "$TAG exists"; exit 0; fi
# The mirror comes from the machine's apt sources, never a hard-coded host.
MIRROR=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
if [ -z "$MIRROR" ]; then MIRROR=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list); fi
[ -x "$ROOTFS/bin/sh" ] || debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >/dev/null
rm -f "$ROOTFS/etc/apt/sources.list"
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  cp /etc/apt/sources.list.d/debian.sources "$ROOTFS/etc/apt/sources.list.d/debian.sources"
fi
# Slim it like the official -slim images.
mkdir -p "$ROOTFS/etc/dpkg/dpkg.cfg.d"
printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
  'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
  'path-include /usr/share/locale/locale.alias' >"$ROOTFS/etc/dpkg/dpkg.cfg.d/docker-slim"
find "$ROOTFS/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
rm -rf "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/var/lib/apt/lists/* \
  "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/log/* "$ROOTFS"/tmp/*
: >"$ROOTFS/etc/machine-id"
tar --numeric-owner -C "$ROOTFS" -c . | docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'CMD ["bash"]' - "$TAG" >/dev/null
docker image ls "$TAG"
