#!/usr/bin/env bash
# Headless Chromium for the report's browser test: Debian's `chromium` package, installed when
# missing (as root, like .ci/postgres.sh installs PostgreSQL). Prints the executable's path on
# stdout; chatter goes to stderr.
set -euo pipefail
log() { printf 'chromium.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

if ! command -v chromium >/dev/null; then
    [[ $(id -u) -eq 0 ]] || die "chromium not found and not root: install Debian's chromium package"
    command -v apt-get >/dev/null || die "chromium not found and no apt-get to install it"
    log "installing chromium from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends chromium >&2
fi
path=$(command -v chromium) || die "chromium installed but not on PATH"
log "using $path ($("$path" --version 2>/dev/null || echo 'version unknown'))"
printf '%s\n' "$path"
