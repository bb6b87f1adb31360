#!/bin/sh
# Starts kopia-mover from the image's V8 startup snapshot, in which every module is already
# loaded and initialised; without the snapshot, from the bundle. Either way node replaces this
# shell, so signals reach the program directly. The script path names the program's root.
app="${KOPIA_MOVER_HOME:-/mover-kopia/app}"
if [ -r "$app/dist/kopia-mover.blob" ]; then
  exec node --snapshot-blob "$app/dist/kopia-mover.blob" "$app/bin/kopia-mover.js" "$@"
fi
exec node "$app/bin/kopia-mover.js" "$@"
