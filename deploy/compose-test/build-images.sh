#!/usr/bin/env bash
# Builds the local images the compose test runs on (Docker Hub is not reachable here) and prints
# the base image's name. Each image is tagged with a hash of what it is built from, so a second CI
# run reuses it: the Debian root file system, the Airflow base and the services image are built once.
#   localhost/mlcycle-bookworm-min     debootstrap --variant=minbase bookworm
#   localhost/mlcycle-test-base:HASH   Debian's Python 3.11 + the pinned Airflow (base.Containerfile)
#   localhost/mlcycle-test-services:HASH  PostgreSQL, Redis, moto's S3 server (services.Containerfile)
set -euo pipefail
shopt -s inherit_errexit
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ca=${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

if ! podman image exists localhost/mlcycle-bookworm-min:latest; then
  rootfs=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >&2
  tar -C "$rootfs" -c . | podman import - localhost/mlcycle-bookworm-min:latest >&2
  rm -rf "$rootfs"
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$here"/*.Containerfile "$here"/*.sh "$ctx"/
cp "$root/requirements.lock" "$ctx/base-constraints.txt"
cp "$ca" "$ctx/host-ca.crt"

build() {  # build NAME CONTAINERFILE: localhost/NAME:HASH, built only when missing
  local hash
  hash=$(cat "$ctx/$2" "$ctx/base-constraints.txt" "$ctx"/*.sh | sha256sum | cut -c1-12)
  if ! podman image exists "localhost/$1:$hash"; then
    podman build --layers -t "localhost/$1:$hash" -f "$ctx/$2" "$ctx" >&2
  fi
  echo "localhost/$1:$hash"
}
base=$(build mlcycle-test-base base.Containerfile)
services=$(build mlcycle-test-services services.Containerfile)
echo "MLCYCLE_TEST_BASE=$base"
echo "MLCYCLE_TEST_SERVICES=$services"
