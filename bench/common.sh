# Shared by baseline.sh and minimal.sh (sourced, not run).
# env: KOPIA (kopia or a counting shim), KOPIA_PASSWORD and backend credentials,
#      CACHE_DIR, REPO_ARGS (backend part of `repository connect`, split on spaces),
#      SNAP_USER, SNAP_HOST, SOURCE (snapshot path), TARGET (restore into),
#      COMPRESSION, RETAIN_DAILY, MAINT_USER, MAINT_HOST
set -euo pipefail

: "${KOPIA:?}" "${CACHE_DIR:?}" "${REPO_ARGS:?}"
global=(--config-file="$CACHE_DIR/kopia.config" --log-dir="$CACHE_DIR/logs")
read -r -a repo_args <<< "$REPO_ARGS"

# One kopia process per call, with the same config and log dir kopia-mover uses.
k() { "$KOPIA" "$@" "${global[@]}"; }

connect() { # user host
  k repository connect "${repo_args[@]}" --override-username="$1" --override-hostname="$2" \
    --cache-directory="$CACHE_DIR" --no-persist-credentials >/dev/null
}

# Newest snapshot id of SNAP_USER@SNAP_HOST:SOURCE (kopia lists oldest first).
newest_snapshot() {
  k snapshot list "$SNAP_USER@$SNAP_HOST:$SOURCE" --json | grep -o '"id":"[0-9a-f]*"' | tail -1 | cut -d'"' -f4
}

# The flags kopia-mover gives `snapshot restore`, so B and C do the same work as A.
restore_flags=(--write-files-atomically --ignore-permission-errors --flush-files)
