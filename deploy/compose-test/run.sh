#!/usr/bin/env bash
# `make test-compose`: podman and Debian's docker-compose if missing, podman's configuration for this
# kind of machine (no rlimits, runc: crun refuses the hybrid cgroup layout), then the compose tier
# (tests/compose), which builds the images, runs the stack and tears it down. docs/compose-test.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

packages=(podman debootstrap uidmap slirp4netns fuse-overlayfs netavark aardvark-dns iptables runc docker-compose)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; }
fi
if [ ! -f /etc/containers/containers.conf ]; then
  mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' > /etc/containers/containers.conf
fi

exec .venv/bin/python -m pytest -m compose tests/compose "$@"
