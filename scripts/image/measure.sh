#!/usr/bin/env bash
# Measures the built image: its size, each layer's size, and how long a mover pod takes from its
# start to the first kopia process (docs/performance.md, "The image").
#
# The time is taken by a KOPIA_BIN shim that notes the clock when it is first started and then
# becomes the real kopia. Two views, each the median of N runs of a repeat backup of a small tree
# into a filesystem repository (read-only root, UID 1000, /tmp in memory, no network):
#   in the container   from the shell that starts /mover-kopia/entry.sh backup to the first kopia
#                      (node's start, the program's load, reading and checking the configuration)
#   from podman run    from `podman run` on the host to the first kopia (adds the container's creation)
#
# Usage: scripts/image/measure.sh   Env: KOPIA_MOVER_IMAGE, RUNS (default 9)
set -euo pipefail

IMAGE="${KOPIA_MOVER_IMAGE:-localhost/kopia-mover:dev}"
RUNS="${RUNS:-9}"
podman() { command podman --runtime runc "$@"; }

work="$(mktemp -d -t km-measure-XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/repo" "$work/cache" "$work/data/docs" "$work/timing"
for i in $(seq 1 100); do printf 'file %d\n' "$i" > "$work/data/docs/f$i.txt"; done
cat > "$work/first-kopia" <<'EOF'
#!/bin/bash
[ -e /timing/first ] || echo "$EPOCHREALTIME" > /timing/first
exec /usr/local/bin/kopia "$@"
EOF
chmod 755 "$work/first-kopia"
chown -R 1000:1000 "$work/repo" "$work/cache" "$work/data" "$work/timing"

pod=(run --rm --ulimit nofile=20000:20000 --ulimit nproc=8192:8192 --network none
  --read-only --read-only-tmpfs=false --user 1000:1000 --cap-drop ALL --security-opt no-new-privileges
  --tmpfs /tmp:rw,exec,mode=1777 -v "$work/repo:/mnt/repo" -v "$work/cache:/cache" -v "$work/data:/data"
  -v "$work/timing:/timing" -v "$work/first-kopia:/opt/first-kopia:ro"
  -e KOPIA_REPOSITORY=filesystem:///mnt/repo -e KOPIA_PASSWORD=measure-only -e KOPIA_CACHE_DIR=/cache
  -e DATA_DIR=/data -e KOPIA_OVERRIDE_USERNAME=app -e KOPIA_OVERRIDE_HOSTNAME=ns1 -e KOPIA_BIN=/opt/first-kopia)

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "image: $IMAGE"
podman image inspect "$IMAGE" --format 'size: {{.Size}} bytes'
echo "layers (newest first):"
podman history --format '  {{.Size}}\t{{.CreatedBy}}' "$IMAGE" | cut -c1-110

# The repository is created, and the cache connected, before anything is timed.
podman "${pod[@]}" --entrypoint /mover-kopia/entry.sh "$IMAGE" backup > "$work/setup.log" 2>&1 \
  || { cat "$work/setup.log"; echo "the first backup failed" >&2; exit 1; }

podman "${pod[@]}" --entrypoint /bin/bash "$IMAGE" -c "
  for i in \$(seq 1 $RUNS); do
    rm -f /timing/first
    t0=\$EPOCHREALTIME
    /mover-kopia/entry.sh backup > /dev/null 2>&1 || exit 1
    t1=\$EPOCHREALTIME
    echo \"\$t0 \$(cat /timing/first) \$t1\"
  done
  for i in \$(seq 1 $RUNS); do
    t0=\$EPOCHREALTIME; node -e 0; t1=\$EPOCHREALTIME
    echo \"\$t0 \$t1\" >&2
  done" > "$work/inside.txt" 2> "$work/node.txt"
bare_node="$(awk '{ printf "%.0f\n", ($2 - $1) * 1000 }' "$work/node.txt" | median)"
inside="$(awk '{ printf "%.0f\n", ($2 - $1) * 1000 }' "$work/inside.txt" | median)"
whole="$(awk '{ printf "%.0f\n", ($3 - $1) * 1000 }' "$work/inside.txt" | median)"

: > "$work/outside.txt"
for _ in $(seq 1 "$RUNS"); do
  rm -f "$work/timing/first"
  t0=$EPOCHREALTIME
  podman "${pod[@]}" --entrypoint /mover-kopia/entry.sh "$IMAGE" backup > /dev/null 2>&1
  t1=$EPOCHREALTIME
  echo "$t0 $(cat "$work/timing/first") $t1" >> "$work/outside.txt"
done
outside="$(awk '{ printf "%.0f\n", ($2 - $1) * 1000 }' "$work/outside.txt" | median)"
outside_whole="$(awk '{ printf "%.0f\n", ($3 - $1) * 1000 }' "$work/outside.txt" | median)"

echo "start to first kopia, median of $RUNS repeat backups (load average now: $(cut -d' ' -f1-3 /proc/loadavg)):"
echo "  in the container: $inside ms (whole backup $whole ms; a bare \`node -e 0\` $bare_node ms)"
echo "  from podman run:  $outside ms (whole backup $outside_whole ms)"
