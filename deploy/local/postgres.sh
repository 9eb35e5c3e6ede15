#!/usr/bin/env bash
# Project-local PostgreSQL 15 cluster for development and tests (no Docker).
#
#   deploy/local/postgres.sh start            init (first time) + start + create the service databases
#   deploy/local/postgres.sh stop             fast shutdown
#   deploy/local/postgres.sh status           running or not, where the data lives
#   deploy/local/postgres.sh url              postgresql://kommune:kommune@127.0.0.1:15432/postgres
#   deploy/local/postgres.sh createdb NAME    create database NAME if it does not exist (server must run)
#   deploy/local/postgres.sh psql [ARGS...]   psql as superuser `kommune` (default database: postgres)
#   deploy/local/postgres.sh purge            stop and delete the cluster (all data)
#
# Listens on 127.0.0.1:15432 only, plus a unix socket in the cluster directory. Superuser `kommune`,
# password `kommune`: trust on the unix socket, scram-sha-256 over TCP. Binaries from Debian's
# postgresql-15 (/usr/lib/postgresql/15/bin), installed on demand when running as root.
#
# Data lives in <repo>/.run/postgres. initdb/pg_ctl refuse to run as root, so as root the cluster
# belongs to the `postgres` OS user; if that user cannot reach <repo>/.run (e.g. the clone sits
# under a 0700 home directory) or the socket path would be too long, the cluster goes to
# /var/tmp/kommune-<hash of repo path>/postgres instead, recorded in .run/postgres.location.
set -euo pipefail
KOMMUNE_COMPONENT=postgres
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_BIN=${KOMMUNE_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_PORT=$KOMMUNE_PG_PORT
PG_LOCATION_FILE="$KOMMUNE_RUN_DIR/postgres.location"
# The databases of the services (one per service; a service never reads another one's database).
SERVICE_DATABASES=(gateway ideas documents egov sensors)

# ---- where the cluster lives -------------------------------------------------------------------
# The OS user that owns the cluster: `postgres` when we are root, ourselves otherwise.
if is_root; then PG_OS_USER=postgres; else PG_OS_USER=$(id -un); fi

# Run a command as the cluster owner, from a directory it can read.
as_pg() {
    if is_root; then
        (cd / && runuser -u "$PG_OS_USER" -- "$@" 9>&-)
    else
        "$@" 9>&-
    fi
}

fallback_dir() {
    local hash
    hash=$(printf '%s' "$KOMMUNE_ROOT" | sha256sum | cut -c1-12)
    printf '/var/tmp/kommune-%s/postgres\n' "$hash"
}

# Resolve PG_DIR (cluster directory: data/, postgres.log, unix socket). With CREATE=1, create it
# (choosing the in-repo location when the owner can use it); otherwise only look for it.
resolve_pg_dir() { # create(0|1)
    local create=$1 candidate="$KOMMUNE_RUN_DIR/postgres"
    if [[ -r $PG_LOCATION_FILE ]]; then
        PG_DIR=$(<"$PG_LOCATION_FILE")
        if [[ -d $PG_DIR || $create -eq 0 ]]; then return 0; fi
    elif [[ -d $candidate || $create -eq 0 ]]; then
        PG_DIR=$candidate
        return 0
    fi
    # Creating: prefer <repo>/.run/postgres. The socket path must stay below the 107-byte limit.
    PG_DIR=$candidate
    if ((${#candidate} + 20 <= 100)); then
        mkdir -p "$candidate"
        if is_root; then
            chmod 755 "$KOMMUNE_RUN_DIR"
            chown "$PG_OS_USER:" "$candidate"
            chmod 700 "$candidate"
            if as_pg test -w "$candidate" -a -x "$candidate"; then
                rm -f "$PG_LOCATION_FILE"
                return 0
            fi
            rmdir "$candidate"
        else
            rm -f "$PG_LOCATION_FILE"
            return 0
        fi
    fi
    PG_DIR=$(fallback_dir)
    log "the cluster cannot live in $candidate (owner '$PG_OS_USER' cannot reach it, or the socket path is too long); using $PG_DIR"
    mkdir -p "$PG_DIR"
    chmod 755 "$(dirname "$PG_DIR")"
    if is_root; then chown "$PG_OS_USER:" "$PG_DIR"; fi
    chmod 700 "$PG_DIR"
    printf '%s\n' "$PG_DIR" >"$PG_LOCATION_FILE"
}

set_paths() {
    PG_DATA="$PG_DIR/data"
    PG_LOG="$PG_DIR/postgres.log"
    PG_SOCKET_DIR="$PG_DIR"
}

# ---- helpers -----------------------------------------------------------------------------------
ensure_binaries() {
    if [[ ! -x $PG_BIN/postgres ]]; then
        [[ -z ${KOMMUNE_PG_BIN:-} ]] || die "no PostgreSQL binaries in KOMMUNE_PG_BIN=$PG_BIN"
        ensure_debian_packages postgresql-15 postgresql-contrib
    fi
    [[ -x $PG_BIN/postgres ]] || die "PostgreSQL 15 binaries not found in $PG_BIN"
    # pg_trgm ships with postgresql-15 (Debian's postgresql-contrib is only a metapackage).
    local sharedir
    sharedir=$("$PG_BIN/pg_config" --sharedir)
    [[ -f $sharedir/extension/pg_trgm.control ]] ||
        ensure_debian_packages postgresql-contrib
    [[ -f $sharedir/extension/pg_trgm.control ]] || die "extension pg_trgm is not available in $sharedir"
    if is_root && ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
        log "creating system user $PG_OS_USER"
        useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
            --shell /bin/bash "$PG_OS_USER"
    fi
}

running() {
    [[ -f $PG_DATA/postmaster.pid ]] &&
        "$PG_BIN/pg_isready" -q -h "$PG_SOCKET_DIR" -p "$PG_PORT" -t 2 >/dev/null 2>&1
}

psql_cmd() { # args... ; superuser over the unix socket
    "$PG_BIN/psql" -X -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U "$KOMMUNE_PG_USER" "$@"
}

init_cluster() {
    log "initialising a new cluster in $PG_DATA"
    local pwfile
    pwfile=$(mktemp)
    printf '%s\n' "$KOMMUNE_PG_PASSWORD" >"$pwfile"
    if is_root; then chown "$PG_OS_USER:" "$pwfile"; fi
    if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$KOMMUNE_PG_USER" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
        >"$PG_DIR/initdb.log" 2>&1; then
        rm -f "$pwfile"
        show_log_tail "$PG_DIR/initdb.log"
        rm -rf "$PG_DATA"
        die "initdb failed"
    fi
    rm -f "$pwfile"
    printf "\n# Kommune local settings (regenerated by deploy/local/postgres.sh on every start)\ninclude_if_exists = 'kommune.conf'\n" |
        as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null
}

write_config() {
    as_pg tee "$PG_DATA/kommune.conf" >/dev/null <<EOF
# Written by deploy/local/postgres.sh on every start; edit the script, not this file.
listen_addresses = '$KOMMUNE_HOST'
port = $PG_PORT
unix_socket_directories = '$PG_SOCKET_DIR'
max_connections = 200
shared_buffers = 256MB
timezone = 'UTC'
log_timezone = 'UTC'
# DEV ONLY: no fsync / synchronous commit / full-page writes. Much faster for tests, but a machine
# crash (not a clean stop) can corrupt this throwaway cluster: then run 'make clean'.
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_duration_statement = 1000
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}

ensure_databases() { # names...
    local db existing
    existing=$(psql_cmd -d postgres -Atq -c 'SELECT datname FROM pg_database')
    for db in "$@"; do
        [[ $db =~ ^[a-z_][a-z0-9_]*$ ]] || die "invalid database name '$db' (use [a-z_][a-z0-9_]*)"
        if ! grep -qx -- "$db" <<<"$existing"; then
            # Two concurrent starts may race; "already exists" is fine.
            psql_cmd -d postgres -q -c "CREATE DATABASE \"$db\"" 2>/dev/null ||
                psql_cmd -d postgres -Atq -c "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 ||
                die "could not create database $db"
            log "created database $db"
        fi
    done
}

# ---- commands ----------------------------------------------------------------------------------
cmd_start() {
    resolve_pg_dir 0
    set_paths
    if running; then
        ensure_databases "${SERVICE_DATABASES[@]}"
        log "already running on $KOMMUNE_HOST:$PG_PORT (data: $PG_DATA)"
        return 0
    fi
    ensure_binaries
    resolve_pg_dir 1
    set_paths
    if port_open "$PG_PORT"; then
        die "port $KOMMUNE_HOST:$PG_PORT is taken by another process (another clone's cluster? check: ss -ltnp | grep $PG_PORT)"
    fi
    [[ -f $PG_DATA/PG_VERSION ]] || init_cluster
    write_config
    log "starting (data: $PG_DATA, log: $PG_LOG)"
    if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 -s start; then
        show_log_tail "$PG_LOG"
        die "PostgreSQL did not start"
    fi
    ensure_databases "${SERVICE_DATABASES[@]}"
    log "running: $KOMMUNE_LOCAL_DATABASE_URL"
}

cmd_stop() {
    resolve_pg_dir 0
    set_paths
    if [[ ! -f $PG_DATA/postmaster.pid ]]; then
        log "not running"
        return 0
    fi
    if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
        # postmaster.pid left by a crash or kill -9: nothing to stop (the next start cleans up).
        log "not running (stale postmaster.pid from an unclean exit)"
        return 0
    fi
    log "stopping"
    if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 -s stop; then
        warn "fast shutdown failed; trying immediate shutdown"
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 30 -s stop ||
            die "could not stop PostgreSQL (postmaster pid: $(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null))"
    fi
    log "stopped"
}

cmd_status() {
    resolve_pg_dir 0
    set_paths
    if running; then
        log "running on $KOMMUNE_HOST:$PG_PORT, pid $(head -n1 "$PG_DATA/postmaster.pid"), data $PG_DATA, log $PG_LOG"
    else
        log "not running (data: $PG_DATA$([[ -d $PG_DATA ]] || printf ', not created yet'))"
        return 3
    fi
}

cmd_createdb() {
    (($# == 1)) || die "usage: $0 createdb NAME"
    resolve_pg_dir 0
    set_paths
    running || die "not running; start it first: $0 start"
    ensure_databases "$1"
}

cmd_psql() {
    resolve_pg_dir 0
    set_paths
    running || die "not running; start it first: $0 start"
    PGDATABASE=${PGDATABASE:-postgres} psql_cmd "$@"
}

cmd_purge() {
    cmd_stop
    if [[ -d $PG_DIR ]]; then
        log "deleting $PG_DIR"
        rm -rf "$PG_DIR"
    fi
    rm -f "$PG_LOCATION_FILE"
    [[ $PG_DIR == "$(fallback_dir)" ]] && rmdir "$(dirname "$PG_DIR")" 2>/dev/null
    return 0
}

case ${1:-} in
start | stop | purge) take_lock postgres ;;
esac
case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
url) printf '%s\n' "$KOMMUNE_LOCAL_DATABASE_URL" ;;
createdb) shift && cmd_createdb "$@" ;;
psql) shift && cmd_psql "$@" ;;
purge) cmd_purge ;;
dir)
    resolve_pg_dir 0
    printf '%s\n' "$PG_DIR"
    ;;
*)
    echo "usage: $0 {start|stop|status|url|createdb NAME|psql [ARGS]|purge|dir}" >&2
    exit 2
    ;;
esac
