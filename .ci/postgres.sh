#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the PostgreSQL event-store contract tests.
#
#   eval "$(bash .ci/postgres.sh start)"   # prints: export LOSSLEDGER_TEST_PG=...; export LOSSLEDGER_PG_DATADIR=...
#   bash .ci/postgres.sh status
#   bash .ci/postgres.sh stop              # stops the cluster in $LOSSLEDGER_PG_DATADIR, removes it
#
# The cluster lives in one temporary directory (data, unix socket and log), is owned by an
# unprivileged user (PostgreSQL refuses to run as root), listens on 127.0.0.1 only, on a free
# port, and trusts local connections. Only the export line goes to stdout; all chatter goes to
# stderr so the output can be eval'ed. Installs Debian's postgresql package if no initdb exists.
#
# Settings (environment): LOSSLEDGER_PG_USER (OS user to run as when root; default lossledger,
# created if missing), PG_BINDIR (directory holding initdb/pg_ctl/postgres), LOSSLEDGER_PG_TMP
# (parent of the cluster directory; default /tmp), LOSSLEDGER_PG_DURABLE=1 (keep fsync on, for
# honest throughput numbers; by default the throwaway cluster trades durability for speed).
set -euo pipefail

exec 3>&1 1>&2 # fd 3 is the real stdout: reserved for the export line

readonly MARKER=lossledger-pg.url # written into every cluster dir we create; guards rm -rf
readonly DB_ROLE=lossledger       # the cluster's superuser (independent of the OS user)

log() { printf 'postgres.sh: %s\n' "$*"; }
die() { log "error: $*"; exit 1; }

find_bindir() {
    local candidate
    if [[ -n ${PG_BINDIR:-} ]]; then
        printf '%s\n' "$PG_BINDIR"; return 0
    fi
    # Debian keeps the server binaries out of PATH; the newest version wins.
    for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
        [[ -x $candidate/initdb && -x $candidate/pg_ctl && -x $candidate/postgres ]] \
            && { printf '%s\n' "$candidate"; return 0; }
    done
    if candidate=$(command -v initdb 2>/dev/null); then
        candidate=$(dirname "$(readlink -f "$candidate")")
        [[ -x $candidate/pg_ctl && -x $candidate/postgres ]] \
            && { printf '%s\n' "$candidate"; return 0; }
    fi
    return 1
}

install_postgres() {
    [[ $(id -u) -eq 0 ]] || die "no initdb found and not root: install PostgreSQL or set PG_BINDIR"
    command -v apt-get >/dev/null || die "no initdb found and no apt-get to install PostgreSQL"
    log "no initdb found: installing PostgreSQL from Debian packages"
    # Debian's package creates and starts a 'main' cluster on localhost:5432 unless told not
    # to; we want nothing listening but our own throwaway cluster.
    # The drop-in covers a postgresql-common already installed (its createcluster.conf
    # includes createcluster.d); on a fresh machine ucf keeps the file we pre-seed.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo 'create_main_cluster = false' \
        >/etc/postgresql-common/createcluster.d/lossledger-no-main-cluster.conf
    if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
        echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf
    fi
    export DEBIAN_FRONTEND=noninteractive UCF_FORCE_CONFFOLD=1
    apt-get update -q
    apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold postgresql
}

# Run a command as the cluster's owner (directly when we are not root). fd 3 is closed for
# it: a server holding our stdout open would hang the caller's $(...) forever.
as_owner() {
    if [[ $(id -u) -ne 0 ]]; then
        "$@" 3>&-
    elif command -v runuser >/dev/null; then
        runuser -u "$OWNER" -- "$@" 3>&-
    else
        setpriv --reuid="$OWNER" --regid="$(id -g "$OWNER")" --init-groups -- "$@" 3>&-
    fi
}

pick_owner() {
    if [[ $(id -u) -ne 0 ]]; then
        OWNER=$(id -un); return
    fi
    OWNER=${LOSSLEDGER_PG_USER:-lossledger}
    if ! id -u "$OWNER" >/dev/null 2>&1; then
        if useradd --system --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$OWNER" 2>/dev/null; then
            log "created system user $OWNER"
        else
            log "could not create user $OWNER; running the cluster as nobody"
            OWNER=nobody
        fi
    fi
    [[ $(id -u "$OWNER") -ne 0 ]] || die "LOSSLEDGER_PG_USER must not be root"
}

# A port nothing on 127.0.0.1 answers on (the server's bind is the real test; we retry).
random_free_port() {
    local port tries
    for tries in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 9<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            printf '%s\n' "$port"; return 0
        fi
    done
    die "no free port found on 127.0.0.1"
}

is_our_cluster() { [[ -n ${1:-} && -f $1/$MARKER && -f $1/PG_VERSION ]]; }

print_exports() {
    printf 'export LOSSLEDGER_TEST_PG=%q; export LOSSLEDGER_PG_DATADIR=%q\n' \
        "$(cat "$1/$MARKER")" "$1" >&3
}

write_config() {
    local dir=$1 port=$2
    # listen_addresses/port/socket dir pin the cluster to 127.0.0.1 and our own directory.
    cat >"$dir/postgresql.auto.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 100
EOF
    if [[ ${LOSSLEDGER_PG_DURABLE:-0} != 1 ]]; then
        # A throwaway test cluster: losing it on a crash costs nothing, syncing costs time.
        printf "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n" \
            >>"$dir/postgresql.auto.conf"
    fi
    cat >"$dir/pg_hba.conf" <<EOF
local all all              trust
host  all all 127.0.0.1/32 trust
EOF
}

cmd_start() {
    if is_our_cluster "${LOSSLEDGER_PG_DATADIR:-}"; then
        if as_owner_status "$LOSSLEDGER_PG_DATADIR"; then
            log "already running in $LOSSLEDGER_PG_DATADIR"
            print_exports "$LOSSLEDGER_PG_DATADIR"; return 0
        fi
        # Ours but dead (a killed job, a reboot): clear it away rather than leak it.
        log "removing stale cluster $LOSSLEDGER_PG_DATADIR"
        cmd_stop
    fi
    [[ -z ${PG_BINDIR:-} || -x $PG_BINDIR/initdb ]] || die "PG_BINDIR=$PG_BINDIR has no initdb"
    local bindir
    bindir=$(find_bindir) || { install_postgres; bindir=$(find_bindir) \
        || die "PostgreSQL installed but initdb still not found"; }
    log "using $bindir ($("$bindir/postgres" --version))"
    pick_owner

    local parent=${LOSSLEDGER_PG_TMP:-/tmp} dir port attempt
    dir=$(mktemp -d "$parent/lossledger-pg.XXXXXX")
    # Until the cluster is up and announced, any failure removes what we made.
    trap 'cleanup_failed_start "$dir" "$bindir"' EXIT
    chown "$OWNER" "$dir"
    chmod 700 "$dir"
    cd "$dir" # the owner may not be able to read our working directory
    as_owner test -w "$dir" || die "$OWNER cannot write $dir (set LOSSLEDGER_PG_TMP)"

    local initdb_out # initdb wants an empty directory, so its log cannot live there
    initdb_out=$(as_owner "$bindir/initdb" -D "$dir" -U "$DB_ROLE" --auth=trust \
        --encoding=UTF8 --no-locale --no-instructions 2>&1) \
        || { printf '%s\n' "$initdb_out"; die "initdb failed"; }

    for attempt in 1 2 3 4 5; do
        port=$(random_free_port)
        write_config "$dir" "$port"
        if as_owner "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null; then
            break
        fi
        grep -q 'could not bind\|could not create any TCP/IP sockets' "$dir/server.log" \
            || { tail -n 20 "$dir/server.log"; die "server failed to start"; }
        log "port $port was taken; trying another"
        [[ $attempt -lt 5 ]] || die "server could not bind a port"
    done

    printf 'postgresql://%s@127.0.0.1:%s/postgres\n' "$DB_ROLE" "$port" >"$dir/$MARKER"
    printf '%s\n' "$bindir" >"$dir/lossledger-pg.bindir"
    trap - EXIT
    log "PostgreSQL running on 127.0.0.1:$port in $dir (owner $OWNER)"
    print_exports "$dir"
}

cleanup_failed_start() {
    local status=$? dir=$1 bindir=$2
    [[ $status -ne 0 ]] || return 0
    if [[ -f $dir/postmaster.pid ]]; then
        as_owner "$bindir/pg_ctl" -D "$dir" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf -- "$dir"
}

owner_of() { stat -c %U "$1"; }

as_owner_status() {
    local dir=$1
    [[ -f $dir/lossledger-pg.bindir ]] || return 1
    OWNER=$(owner_of "$dir")
    (cd "$dir" && as_owner "$(cat "$dir/lossledger-pg.bindir")/pg_ctl" -D "$dir" status) \
        >/dev/null 2>&1
}

cmd_stop() {
    local dir=${LOSSLEDGER_PG_DATADIR:-}
    if [[ -z $dir || ! -e $dir ]]; then
        log "nothing to stop${dir:+ ($dir is gone)}"; return 0
    fi
    is_our_cluster "$dir" || die "$dir is not a cluster made by this script; not touching it"
    OWNER=$(owner_of "$dir")
    if [[ -f $dir/postmaster.pid ]]; then
        local bindir
        bindir=$(cat "$dir/lossledger-pg.bindir" 2>/dev/null || find_bindir) \
            || die "cannot find pg_ctl to stop $dir"
        # fast: disconnect clients (a test may have leaked one) instead of waiting for them.
        (cd "$dir" && as_owner "$bindir/pg_ctl" -D "$dir" -m fast -w -t 60 stop >/dev/null) \
            || (cd "$dir" && as_owner "$bindir/pg_ctl" -D "$dir" -m immediate -w stop >/dev/null) \
            || log "pg_ctl stop failed; removing $dir anyway"
    fi
    rm -rf -- "$dir"
    log "stopped and removed $dir"
}

cmd_status() {
    local dir=${LOSSLEDGER_PG_DATADIR:-}
    if is_our_cluster "$dir" && as_owner_status "$dir"; then
        log "running: $(cat "$dir/$MARKER") in $dir"
    else
        log "not running"; return 3
    fi
}

case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) die "usage: $0 start|stop|status" ;;
esac
