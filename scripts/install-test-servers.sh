#!/usr/bin/env bash
# Installs the storage servers the integration tests start on 127.0.0.1:
#   - MinIO (S3), built from the pinned module into tools/bin/minio
#   - toxiproxy's server (a TCP proxy whose faults the tests switch on and off), built from the
#     pinned module into tools/bin/toxiproxy-server
#   - OpenSSH sshd (SFTP) and rclone (WebDAV server, kopia's rclone backend, and the S3 client
#     that makes and lists the test buckets), from apt
#   - fake-gcs-server (Google Cloud Storage), built from the pinned module into tools/bin
#   - Azurite (Azure Blob Storage) is the npm devDependency `azurite`: `npm ci` installs it
# Each part is skipped when already present, so a second run returns at once.
set -euo pipefail

# MinIO release tags (RELEASE.<date>) are not semver, so the pin is the pseudo-version of a commit.
MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
FAKE_GCS_VERSION="${FAKE_GCS_VERSION:-v1.56.1}"
TOXIPROXY_VERSION="${TOXIPROXY_VERSION:-v2.5.0}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="$root/tools/bin"
minio="$bin_dir/minio"
toxiproxy="$bin_dir/toxiproxy-server"

log() { echo "install-test-servers: $*" >&2; }

# Builds package `pkg` of module@version into `out`, with `-X var=version`, so the binary reports
# its own version. `go install module@version` asks the proxy for the version list, which some
# proxies refuse; downloading the exact version and building inside it needs only that version.
# The build goes to a name of its own and is renamed: another checkout sharing tools/bin may be
# building the same binary at the same moment.
go_build_pinned() {
  local module="$1" version="$2" pkg="$3" var="$4" out="$5"
  command -v go >/dev/null || { log "go is required to build $module@$version"; exit 1; }
  export GOTOOLCHAIN=local
  local module_dir
  module_dir="$(cd /tmp && go mod download -json "$module@$version" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -n "$module_dir" ] || { log "could not download $module@$version"; exit 1; }
  mkdir -p "$bin_dir"
  local partial="$out.partial.$$"
  (cd "$module_dir" && go build -mod=mod -trimpath -ldflags "-s -w -X $var=$version" -o "$partial" "$pkg")
  mv -f "$partial" "$out"
}

# The pseudo-version is baked in as the commit id, which `minio --version` prints;
# that tells a stale binary from the pinned one without a side file. (No grep -q: with
# pipefail, grep quitting early could fail the pipeline on SIGPIPE.)
minio_is_pinned() {
  [ -x "$minio" ] && "$minio" --version 2>/dev/null | grep -F "commit-id=$MINIO_VERSION" >/dev/null
}

install_minio() {
  minio_is_pinned && return 0
  log "building minio $MINIO_VERSION (first time takes minutes)"
  go_build_pinned github.com/minio/minio "$MINIO_VERSION" . github.com/minio/minio/cmd.CommitID "$minio"
  minio_is_pinned || { log "built minio does not report $MINIO_VERSION"; exit 1; }
  log "$("$minio" --version | head -1)"
}

fake_gcs="$bin_dir/fake-gcs-server"
fake_gcs_stamp="$bin_dir/.fake-gcs-server.version"

# fake-gcs-server has no version flag: a stamp beside the binary names the version it was built from.
fake_gcs_is_pinned() {
  [ -x "$fake_gcs" ] && [ -f "$fake_gcs_stamp" ] && [ "$(cat "$fake_gcs_stamp")" = "$FAKE_GCS_VERSION" ]
}

install_fake_gcs() {
  fake_gcs_is_pinned && return 0
  log "building fake-gcs-server $FAKE_GCS_VERSION"
  # main.version does not exist there: the linker ignores it, and the stamp names the version.
  go_build_pinned github.com/fsouza/fake-gcs-server "$FAKE_GCS_VERSION" . main.version "$fake_gcs"
  echo "$FAKE_GCS_VERSION" > "$fake_gcs_stamp.$$"
  mv "$fake_gcs_stamp.$$" "$fake_gcs_stamp"
  log "built $fake_gcs"
}

# The version is baked in through the module's Version variable, which `-version` prints.
toxiproxy_is_pinned() {
  [ -x "$toxiproxy" ] && "$toxiproxy" -version 2>/dev/null | grep -F "version $TOXIPROXY_VERSION" >/dev/null
}

install_toxiproxy() {
  toxiproxy_is_pinned && return 0
  log "building toxiproxy-server $TOXIPROXY_VERSION"
  go_build_pinned github.com/Shopify/toxiproxy/v2 "$TOXIPROXY_VERSION" ./cmd/server github.com/Shopify/toxiproxy/v2.Version "$toxiproxy"
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
  # The metrics tests push to a real Pushgateway; htpasswd makes the hash of its basic-auth password.
  command -v prometheus-pushgateway >/dev/null 2>&1 || wanted+=(prometheus-pushgateway)
  command -v htpasswd >/dev/null 2>&1 || wanted+=(apache2-utils)
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
install_fake_gcs
install_toxiproxy
