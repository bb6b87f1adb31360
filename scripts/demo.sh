#!/usr/bin/env bash
# A real backup, restore and maintenance round trip against a local filesystem
# repository, in a temp dir that is removed afterwards.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install-kopia.sh"
work="$(mktemp -d -t kopia-mover-demo-XXXXXX)"
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/data/docs" "$work/restored"
echo "hello from kopia-mover" > "$work/data/hello.txt"
echo "nested file" > "$work/data/docs/notes.md"
head -c 1048576 /dev/urandom > "$work/data/random.bin"

export KOPIA_PASSWORD="demo-password-$$"
export KOPIA_REPOSITORY="filesystem://$work/repository"
export KOPIA_CACHE_DIR="$work/cache"
export KOPIA_OVERRIDE_USERNAME=demo KOPIA_OVERRIDE_HOSTNAME=laptop
export KOPIA_SOURCE_PATH_OVERRIDE=/data
export KOPIA_MOVER_LOG_FORMAT="${KOPIA_MOVER_LOG_FORMAT:-pretty}"
export KOPIA_MOVER_PROGRESS_INTERVAL_SECONDS=1
mover=("node" "$root/bin/kopia-mover.js")

step() { printf '\n\033[1m== %s ==\033[0m\n' "$1"; }

step "backup $work/data"
"${mover[@]}" backup --data-dir "$work/data" --keep-daily 7 --compression zstd

step "restore into $work/restored"
"${mover[@]}" restore --data-dir "$work/restored"

step "maintenance"
"${mover[@]}" maintenance

step "result"
if diff -r "$work/data" "$work/restored" >/dev/null; then
  echo "restored tree is identical to the source ($(find "$work/restored" -type f | wc -l) files)"
else
  echo "restored tree differs from the source" >&2
  exit 1
fi
