#!/bin/bash
exec node "${KOPIA_MOVER_HOME:-/mover-kopia/app}/bin/kopia-mover.js" "$@"
