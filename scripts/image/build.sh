#!/usr/bin/env bash
# `npm run image`: builds the project's Dockerfile with podman into localhost/kopia-mover:dev.
#
# Where Docker Hub cannot be reached (only Debian's mirror, the Go module proxy and the npm
# registry), the Dockerfile's base images are replaced by local stand-ins tagged with the exact
# names its FROM lines use, made once and reused while `podman image exists` finds them:
#   debian:bookworm-slim   Debian minbase (mmdebstrap) with the slim image's apt/dpkg settings
#   node:<N>-bookworm-slim that plus this host's Node <N>, laid out as the official image lays it out
#   golang:<V>-bookworm    Debian minbase, ca-certificates and Go <V> from the Go module proxy
# Real images of those names, when present, are used as they are. The Dockerfile itself knows
# nothing of the stand-ins; it builds with Docker against Docker Hub unchanged.
#
# Usage: scripts/image/build.sh [tools|standins|build|all]   (default all; needs root for apt)
# Env:   KOPIA_MOVER_IMAGE    tag to build (default localhost/kopia-mover:dev)
#        CA_BUNDLE            CA bundle npm trusts during the build (default the host's)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/scripts/image"
IMAGE="${KOPIA_MOVER_IMAGE:-localhost/kopia-mover:dev}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
MINBASE=localhost/kopia-mover-standin/bookworm-minbase:latest

# crun 1.8 (bookworm) refuses a hybrid cgroup v1/v2 host; runc works on both.
podman() { command podman --runtime runc "$@"; }

log() { echo "image: $*" >&2; }
# Scratch space of this run only (stand-ins' inputs, the build's CA mount): builds may run side by side.
WORK="$(mktemp -d "${TMPDIR:-/var/tmp}/kopia-mover-image-XXXXXX")"
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
started=$(date +%s)
step_start=0
step() { step_start=$(date +%s); log "$*"; }
step_done() { log "  took $(( $(date +%s) - step_start )) s"; }

tools() {
  local missing=()
  for cmd in podman buildah runc mmdebstrap newuidmap; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  step "installing podman, buildah, runc, mmdebstrap (missing: ${missing[*]})"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    podman buildah runc mmdebstrap uidmap netavark aardvark-dns slirp4netns \
    containernetworking-plugins golang-github-containers-common iptables >/dev/null
  step_done
}

# Base images the Dockerfile names (FROM lines that are not earlier stages).
base_images() {
  awk 'toupper($1) == "FROM" {
         if (!($2 in stage)) print $2
         if (toupper($3) == "AS") stage[$4] = 1
       }' "$root/Dockerfile" | sort -u
}

qualified() { # debian:bookworm-slim -> docker.io/library/debian:bookworm-slim
  case "$1" in
    */*/*) echo "$1" ;;
    */*) echo "docker.io/$1" ;;
    *) echo "docker.io/library/$1" ;;
  esac
}

minbase() {
  podman image exists "$MINBASE" && return 0
  step "Debian bookworm minbase rootfs (mmdebstrap) as $MINBASE"
  local sources=/etc/apt/sources.list.d/debian.sources
  [ -f "$sources" ] || sources=/etc/apt/sources.list
  # The host's own apt sources, so the rootfs comes from the mirror this host reaches. No docs,
  # man pages or locales, as in Docker Hub's slim images (the same settings stay in the rootfs,
  # so packages installed later leave them out too).
  # /usr merged by symlinks as debootstrap (and so Docker Hub's images) does, not by the usrmerge
  # package, which would bring perl along.
  mmdebstrap --quiet --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/groff/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' --dpkgopt='path-exclude=/usr/share/linda/*' \
    bookworm "$WORK/bookworm-minbase.tar" "$sources" > "$WORK/mmdebstrap.log" 2>&1 \
    || { tail -30 "$WORK/mmdebstrap.log" >&2; log "mmdebstrap failed"; exit 1; }
  podman import --change 'CMD ["bash"]' "$WORK/bookworm-minbase.tar" "$MINBASE" >/dev/null
  rm -f "$WORK/bookworm-minbase.tar"
  step_done
}

standin_debian_slim() { # NAME
  minbase
  step "stand-in $1"
  podman build --quiet --pull=never --network=host -t "$1" "$here/standins/debian-slim" >/dev/null
  step_done
}

standin_node() { # NAME MAJOR
  local name=$1 major=$2 node ctx="$WORK/node"
  node="$(command -v node)" || { log "node $major is needed on this host for the $name stand-in"; exit 1; }
  local version; version="$("$node" --version)"; version="${version#v}"
  [ "${version%%.*}" = "$major" ] || { log "$name stand-in: this host's node is $version, not $major.x"; exit 1; }
  local base; base="$(qualified debian:bookworm-slim)"
  podman image exists "$base" || standin_debian_slim "$base"
  step "stand-in $name (this host's node $version)"
  # npm and corepack as the host's node ships them (Debian/NodeSource: <prefix>/lib/node_modules).
  local prefix; prefix="$(cd "$(dirname "$(readlink -f "$node")")/.." && pwd)"
  local modules="$prefix/lib/node_modules"
  [ -d "$modules/npm" ] || { log "$name stand-in: npm not found in $modules"; exit 1; }
  rm -rf "$ctx"; mkdir -p "$ctx/root/usr/local/bin" "$ctx/root/usr/local/lib/node_modules" "$ctx/root/usr/local/include"
  cp "$here/standins/node/Containerfile" "$here/standins/node/docker-entrypoint.sh" "$ctx/"
  cp -a "$(readlink -f "$node")" "$ctx/root/usr/local/bin/node"
  cp -a "$modules/npm" "$ctx/root/usr/local/lib/node_modules/"
  [ -d "$modules/corepack" ] && cp -a "$modules/corepack" "$ctx/root/usr/local/lib/node_modules/"
  [ -d "$prefix/include/node" ] && cp -a "$prefix/include/node" "$ctx/root/usr/local/include/node"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ctx/root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ctx/root/usr/local/bin/npx"
  ln -s ../lib/node_modules/corepack/dist/corepack.js "$ctx/root/usr/local/bin/corepack"
  ln -s node "$ctx/root/usr/local/bin/nodejs"
  # Yarn 1, as the official image carries it in /opt.
  local yarn=1.22.22
  mkdir -p "$ctx/root/opt/yarn-v$yarn"
  (cd "$ctx" && npm pack --silent "yarn@$yarn" >/dev/null)
  tar -xzf "$ctx/yarn-$yarn.tgz" -C "$ctx/root/opt/yarn-v$yarn" --strip-components=1
  rm -f "$ctx/yarn-$yarn.tgz"
  ln -s "/opt/yarn-v$yarn/bin/yarn" "$ctx/root/usr/local/bin/yarn"
  ln -s "/opt/yarn-v$yarn/bin/yarnpkg" "$ctx/root/usr/local/bin/yarnpkg"
  podman build --quiet --pull=never --network=host --build-arg NODE_VERSION="$version" \
    --build-arg YARN_VERSION="$yarn" -t "$name" "$ctx" >/dev/null
  step_done
}

standin_golang() { # NAME GO_VERSION
  local name=$1 version=$2 ctx="$WORK/golang"
  command -v go >/dev/null || { log "go is needed on this host to fetch Go $version for the $name stand-in"; exit 1; }
  minbase
  step "stand-in $name (Go $version from the Go module proxy)"
  rm -rf "$ctx"; mkdir -p "$ctx/ca"
  cp "$here/standins/golang/Containerfile" "$ctx/"
  # The toolchain as the go command itself fetches it: the golang.org/toolchain module.
  local dir
  dir="$(cd /tmp && GOMODCACHE="$WORK/gomod" GOTOOLCHAIN=local \
    go mod download -json "golang.org/toolchain@v0.0.1-go$version.linux-$(go env GOARCH)" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -n "$dir" ] && [ -f "$dir/bin/go" ] || { log "could not fetch Go $version from the Go module proxy"; exit 1; }
  cp -a "$dir" "$ctx/go"; chmod -R u+w "$ctx/go"
  # Module zips keep no executable bits; the go command marks these when it switches toolchains.
  chmod a+x "$ctx/go/bin/"* "$ctx/go/pkg/tool/"*/*
  cp /usr/local/share/ca-certificates/*.crt "$ctx/ca/" 2>/dev/null || true
  podman build --quiet --pull=never --network=host --build-arg GOLANG_VERSION="$version" \
    -t "$name" "$ctx" >/dev/null
  step_done
}

standins() {
  local image name
  for image in $(base_images); do
    name="$(qualified "$image")"
    if podman image exists "$name"; then
      log "base image $name: present"
      continue
    fi
    case "$image" in
      debian:bookworm-slim) standin_debian_slim "$name" ;;
      node:*-bookworm-slim) local major="${image#node:}"; standin_node "$name" "${major%%-*}" ;;
      golang:*-bookworm) local v="${image#golang:}"; standin_golang "$name" "${v%-bookworm}" ;;
      *) log "no stand-in recipe for base image $image"; exit 1 ;;
    esac
  done
}

build() {
  # npm in the build stage trusts only node's own CA list unless told otherwise: a global npmrc
  # in a mount that exists only while RUN steps run (never a layer, never the Dockerfile's concern)
  # points it at this host's bundle. /usr/local/etc exists, empty, in every base image.
  local ca="$WORK/buildca"
  mkdir -p "$ca"
  cp "$CA_BUNDLE" "$ca/ca-certificates.crt"
  printf 'cafile=/usr/local/etc/ca-certificates.crt\n' > "$ca/npmrc"
  step "podman build $IMAGE"
  # --network=host: the build fetches from the Go module proxy, the npm registry and Debian.
  podman build --pull=never --network=host --layers -v "$ca:/usr/local/etc:ro" \
    -f "$root/Dockerfile" -t "$IMAGE" "$root"
  step_done
  podman image inspect "$IMAGE" --format "image: $IMAGE {{.Id}} {{.Size}} bytes" >&2
}

case "${1:-all}" in
  tools) tools ;;
  standins) tools; standins ;;
  build) build ;;
  all) tools; standins; build ;;
  *) echo "usage: $0 [tools|standins|build|all]" >&2; exit 2 ;;
esac
log "done in $(( $(date +%s) - started )) s"
