#!/usr/bin/env bash
# Installs the storage servers the integration tests start on 127.0.0.1:
#   - MinIO (S3), built from the pinned module into tools/bin/minio
#   - toxiproxy's server (a TCP proxy whose faults the tests switch on and off), built from the
#     pinned module into tools/bin/toxiproxy-server
#   - OpenSSH sshd (SFTP) and rclone (WebDAV server, kopia's rclone backend, and the S3 client
#     that makes and lists the test buckets), from apt
# Each part is skipped when already present, so a second run returns at once.
set -euo pipefail

# MinIO release tags (RELEASE.<date>) are not semver, so the pin is the pseudo-version of a commit.
MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
TOXIPROXY_VERSION="${TOXIPROXY_VERSION:-v2.5.0}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="$root/tools/bin"
minio="$bin_dir/minio"
toxiproxy="$bin_dir/toxiproxy-server"

log() { echo "install-test-servers: $*" >&2; }

# The pseudo-version is baked in as the commit id, which `minio --version` prints;
# that tells a stale binary from the pinned one without a side file. (No grep -q: with
# pipefail, grep quitting early could fail the pipeline on SIGPIPE.)
minio_is_pinned() {
  [ -x "$minio" ] && "$minio" --version 2>/dev/null | grep -F "commit-id=$MINIO_VERSION" >/dev/null
}

install_minio() {
  if minio_is_pinned; then
    return 0
  fi
  command -v go >/dev/null || { log "go is required to build minio $MINIO_VERSION"; exit 1; }
  log "building minio $MINIO_VERSION (first time takes minutes)"
  export GOTOOLCHAIN=local
  # `go install module@version` asks the proxy for the version list, which some proxies refuse;
  # downloading the exact version and building inside it needs only that version.
  local module_dir
  module_dir="$(cd /tmp && go mod download -json "github.com/minio/minio@$MINIO_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -n "$module_dir" ] || { log "could not download github.com/minio/minio@$MINIO_VERSION"; exit 1; }
  mkdir -p "$bin_dir"
  (cd "$module_dir" && go build -mod=mod -trimpath \
    -ldflags "-s -w -X github.com/minio/minio/cmd.CommitID=$MINIO_VERSION" \
    -o "$minio.partial" .)
  mv "$minio.partial" "$minio"
  minio_is_pinned || { log "built minio does not report $MINIO_VERSION"; exit 1; }
  log "$("$minio" --version | head -1)"
}

# The version is baked in through the module's Version variable, which `-version` prints.
toxiproxy_is_pinned() {
  [ -x "$toxiproxy" ] && "$toxiproxy" -version 2>/dev/null | grep -F "version $TOXIPROXY_VERSION" >/dev/null
}

install_toxiproxy() {
  if toxiproxy_is_pinned; then
    return 0
  fi
  command -v go >/dev/null || { log "go is required to build toxiproxy $TOXIPROXY_VERSION"; exit 1; }
  log "building toxiproxy-server $TOXIPROXY_VERSION"
  export GOTOOLCHAIN=local
  local module_dir
  module_dir="$(cd /tmp && go mod download -json "github.com/Shopify/toxiproxy/v2@$TOXIPROXY_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -n "$module_dir" ] || { log "could not download github.com/Shopify/toxiproxy/v2@$TOXIPROXY_VERSION"; exit 1; }
  mkdir -p "$bin_dir"
  # A name of its own per build: another checkout sharing tools/bin may be building it right now.
  local partial="$toxiproxy.partial.$$"
  (cd "$module_dir" && go build -mod=mod -trimpath \
    -ldflags "-s -w -X github.com/Shopify/toxiproxy/v2.Version=$TOXIPROXY_VERSION" \
    -o "$partial" ./cmd/server)
  mv -f "$partial" "$toxiproxy"
  toxiproxy_is_pinned || { log "built toxiproxy-server does not report $TOXIPROXY_VERSION"; exit 1; }
  log "$("$toxiproxy" -version)"
}

have_sshd() {
  command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ]
}

install_apt_packages() {
  local wanted=()
  have_sshd || wanted+=(openssh-server)
  command -v rclone >/dev/null 2>&1 || wanted+=(rclone)
  # openssl makes the test CA; ssh-keygen comes with openssh-client.
  command -v openssl >/dev/null 2>&1 || wanted+=(openssl)
  command -v ssh-keygen >/dev/null 2>&1 || wanted+=(openssh-client)
  [ "${#wanted[@]}" -eq 0 ] && return 0

  command -v apt-get >/dev/null || { log "apt-get not found; install ${wanted[*]} yourself"; exit 1; }
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  log "installing ${wanted[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${wanted[@]}"
}

install_apt_packages
install_minio
install_toxiproxy
