#!/usr/bin/env bash
# Installs the pinned kopia into tools/bin unless the right version is already there.
# `go install kopia@version` needs the proxy's version list, which some proxies refuse;
# downloading the exact module and building it from its own go.mod needs only that version.
set -euo pipefail

KOPIA_VERSION="${KOPIA_VERSION:-0.22.3}"
# The commit the version's tag names; stamped as kopia's release builds stamp it (see Dockerfile).
KOPIA_COMMIT="${KOPIA_COMMIT:-154bf56899228e5c95fb3176b9c6901bbe4ca97b}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="$root/tools/bin"
target="$bin_dir/kopia"

installed_version() {
  "$1" --version 2>/dev/null | awk 'NR==1 {print $1}'
}

if [ -x "$target" ] && [ "$(installed_version "$target")" = "$KOPIA_VERSION" ]; then
  exit 0
fi

# Reuse a kopia already on PATH when it is the pinned version.
if existing="$(command -v kopia 2>/dev/null)" && [ "$(installed_version "$existing")" = "$KOPIA_VERSION" ]; then
  mkdir -p "$bin_dir"
  ln -sf "$existing" "$target"
  exit 0
fi

command -v go >/dev/null || { echo "install-kopia: go is required to build kopia $KOPIA_VERSION" >&2; exit 1; }

echo "install-kopia: building kopia $KOPIA_VERSION (first time takes minutes)" >&2
export GOTOOLCHAIN=local
module_dir="$(cd /tmp && go mod download -json "github.com/kopia/kopia@v$KOPIA_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -n "$module_dir" ] || { echo "install-kopia: could not download github.com/kopia/kopia@v$KOPIA_VERSION" >&2; exit 1; }

mkdir -p "$bin_dir"
(cd "$module_dir" && go build -mod=mod -trimpath \
  -ldflags "-s -w -X github.com/kopia/kopia/repo.BuildVersion=$KOPIA_VERSION -X github.com/kopia/kopia/repo.BuildInfo=$KOPIA_COMMIT -X github.com/kopia/kopia/repo.BuildGitHubRepo=kopia/kopia" \
  -o "$target.partial" .)
mv "$target.partial" "$target"
echo "install-kopia: $("$target" --version | head -1)" >&2
