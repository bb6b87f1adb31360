#!/usr/bin/env bash
# Benchmark variant C: the fewest kopia processes that do the same work, written with
# knowledge of the state the benchmark prepared: the snapshot path's policy (compression,
# retention) is already in the repository, so `snapshot create` applies both, and the
# maintenance identity already owns maintenance. Connects only when the cache is empty.
# usage: minimal.sh backup|restore|maintenance   (environment: see common.sh)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

op="${1:?usage: minimal.sh backup|restore|maintenance}"
connected() { [ -f "$CACHE_DIR/kopia.config" ]; }

case "$op" in
  backup)
    connected || connect "$SNAP_USER" "$SNAP_HOST"
    k snapshot create "$SOURCE" >/dev/null
    ;;
  restore)
    connected || connect "$SNAP_USER" "$SNAP_HOST"
    id="$(newest_snapshot)"
    [ -n "$id" ] || { echo "minimal.sh: no snapshot of $SNAP_USER@$SNAP_HOST:$SOURCE" >&2; exit 1; }
    k snapshot restore "$id" "$TARGET" "${restore_flags[@]}" >/dev/null
    ;;
  maintenance)
    connected || connect "$MAINT_USER" "$MAINT_HOST"
    k maintenance run >/dev/null
    k maintenance run --full >/dev/null
    ;;
  *)
    echo "minimal.sh: unknown operation $op" >&2
    exit 2
    ;;
esac
