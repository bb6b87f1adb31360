# syntax=docker/dockerfile:1

######################################################################
# kopia, built from the exact module version. `go install kopia@version`
# needs the proxy's version list, which some proxies refuse; downloading the
# one module and building it from its own go.mod needs only that version.
FROM golang:1.25.4-bookworm AS kopia-builder

# Keep in step with KOPIA_VERSION and KOPIA_COMMIT in scripts/install-kopia.sh.
ARG KOPIA_VERSION=0.22.3
# The commit the v0.22.3 tag names (the module proxy's Origin for that version). Stamped as kopia's
# release builds stamp it, so `kopia --version` names the revision; checked against the proxy.
ARG KOPIA_COMMIT=154bf56899228e5c95fb3176b9c6901bbe4ca97b
# Unset unless given, so the default proxy applies.
ARG GOPROXY

# Static binary: cgo's getpwuid_r can hang for a UID without a passwd entry.
ENV CGO_ENABLED=0 \
    GOTOOLCHAIN=local

WORKDIR /tmp
RUN go mod download -json "github.com/kopia/kopia@v${KOPIA_VERSION}" > /tmp/kopia-module.json \
 && origin="$(sed -n 's/^[[:space:]]*"Hash": "\([0-9a-f]\{40\}\)",\{0,1\}$/\1/p' /tmp/kopia-module.json)" \
 && if [ -n "$origin" ] && [ "$origin" != "${KOPIA_COMMIT}" ]; then \
      echo "kopia v${KOPIA_VERSION} is commit $origin, not ${KOPIA_COMMIT}" >&2; exit 1; \
    fi \
 && cd "$(go env GOMODCACHE)/github.com/kopia/kopia@v${KOPIA_VERSION}" \
 && go build -mod=mod -trimpath \
      -ldflags "-s -w -X github.com/kopia/kopia/repo.BuildVersion=${KOPIA_VERSION} -X github.com/kopia/kopia/repo.BuildInfo=${KOPIA_COMMIT} -X github.com/kopia/kopia/repo.BuildGitHubRepo=kopia/kopia" \
      -o /out/kopia . \
 && /out/kopia --version \
 && test "$(/out/kopia --version | awk 'NR==1 {print $1 " " $3}')" = "${KOPIA_VERSION} ${KOPIA_COMMIT}"


######################################################################
# kopia-mover: type-check and bundle into one file; no dependency is needed at runtime.
FROM node:20-bookworm-slim AS app-builder

WORKDIR /build
# Manifests first so the dependency layer survives source edits.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/build.sh ./scripts/build.sh
COPY src ./src
COPY bin ./bin
RUN npm run build


######################################################################
# Runtime: node, kopia and the program; nothing to build with. The base is plain Debian slim and
# only the node binary comes from the Node image, so npm, corepack and yarn are in no layer.
FROM debian:bookworm-slim

# ca-certificates for TLS to object stores; rclone and ssh: kopia's rclone and external-sftp
# backends run them. apt's lists, archives and logs go in the same step, so no layer keeps them.
# UID/GID 1000 gets a name: ssh refuses a user without a passwd entry, and with no
# KOPIA_OVERRIDE_USERNAME the snapshot owner is this name. HOME is /tmp (see ENV below).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates rclone openssh-client \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log \
      /var/log/alternatives.log /var/cache/debconf/*-old /var/lib/dpkg/*-old \
 && groupadd --gid 1000 kopia-mover \
 && useradd --no-log-init --uid 1000 --gid 1000 --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin kopia-mover

COPY --from=app-builder /usr/local/bin/node /usr/local/bin/node
COPY --from=kopia-builder /out/kopia /usr/local/bin/kopia

# Owned by root and read-only to the mover user: the program cannot be altered at runtime.
COPY --from=app-builder /build/package.json /mover-kopia/app/package.json
COPY --from=app-builder /build/dist /mover-kopia/app/dist
COPY --from=app-builder /build/bin /mover-kopia/app/bin
# The controller runs `/bin/bash -c /mover-kopia/entry.sh`; the shim keeps that path.
COPY --chmod=0755 docker/entry.sh /mover-kopia/entry.sh

# The root filesystem is read-only in mover pods; VolSync mounts an emptyDir at /tmp,
# so HOME and TMPDIR point there. kopia's config, cache and logs go under
# KOPIA_CACHE_DIR; HOME only catches stray dotfiles (ssh known_hosts, rclone).
# USER names the image's user for kopia's cgo-free lookup when the pod runs another UID
# (one without a passwd entry).
ENV KOPIA_BIN=/usr/local/bin/kopia \
    KOPIA_MOVER_HOME=/mover-kopia/app \
    NODE_ENV=production \
    HOME=/tmp \
    TMPDIR=/tmp \
    USER=kopia-mover

USER 1000:1000

ENTRYPOINT ["/mover-kopia/entry.sh"]
