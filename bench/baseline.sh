#!/usr/bin/env bash
# Benchmark variant B: the original mover script's kopia command sequence, one kopia
# process per `k` call, in the original's order (see docs/performance.md).
# usage: baseline.sh backup|restore|maintenance   (environment: see common.sh)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

op="${1:?usage: baseline.sh backup|restore|maintenance}"

# --version, status; on an empty cache connect; then set-client, status, cache set.
prepare() { # user host [extra-attempt]
  k --version >/dev/null
  if ! k repository status >/dev/null 2>&1; then
    # The original's backup makes one failing connect attempt before connecting. This
    # stand-in fails before reaching storage, so it costs B only a process start.
    if [ "${3:-}" = extra-attempt ]; then
      k repository connect from-config --file="$CACHE_DIR/repository.config" >/dev/null 2>&1 || true
    fi
    connect "$1" "$2"
  fi
  k repository set-client --username="$1" --hostname="$2" >/dev/null
  k repository status >/dev/null
  # kopia's defaults, so the cache behaves as it does for A and C.
  k cache set --content-cache-size-mb=5000 --metadata-cache-size-mb=5000 >/dev/null
}

case "$op" in
  backup)
    prepare "$SNAP_USER" "$SNAP_HOST" extra-attempt
    k policy set "$SOURCE" --compression="$COMPRESSION" >/dev/null
    # `policy set --global` runs only with a mounted policy file; the benchmark has none.
    k snapshot create "$SOURCE" >/dev/null
    k policy set "$SOURCE" --keep-daily="$RETAIN_DAILY" >/dev/null
    ;;
  restore)
    prepare "$SNAP_USER" "$SNAP_HOST"
    id="$(newest_snapshot)"
    [ -n "$id" ] || { echo "baseline.sh: no snapshot of $SNAP_USER@$SNAP_HOST:$SOURCE" >&2; exit 1; }
    k snapshot restore "$id" "$TARGET" "${restore_flags[@]}" >/dev/null
    ;;
  maintenance)
    prepare "$MAINT_USER" "$MAINT_HOST"
    k repository set-client --username="$MAINT_USER" --hostname="$MAINT_HOST" >/dev/null
    k maintenance info >/dev/null
    k maintenance set --owner="$MAINT_USER@$MAINT_HOST" >/dev/null
    k maintenance set --enable-quick=true >/dev/null
    k maintenance run >/dev/null
    k maintenance run --full >/dev/null
    ;;
  *)
    echo "baseline.sh: unknown operation $op" >&2
    exit 2
    ;;
esac
