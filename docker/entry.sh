#!/bin/sh
# The controller runs `/mover-kopia/entry.sh [backup|restore]`, or `/bin/bash -c /mover-kopia/entry.sh`
# with DIRECTION set. node replaces this shell, so signals reach the program directly.
exec node "${KOPIA_MOVER_HOME:-/mover-kopia/app}/bin/kopia-mover.js" "$@"
