#!/usr/bin/env bash
# Project-local Keycloak 26 (the OIDC provider German cities run) for development and tests.
#
#   deploy/local/keycloak.sh start     fetch + build (first time), create its database, start, wait
#   deploy/local/keycloak.sh stop      SIGTERM (graceful), then SIGKILL after a timeout
#   deploy/local/keycloak.sh status    running or not
#   deploy/local/keycloak.sh env       endpoints and admin credentials file, as shell assignments
#   deploy/local/keycloak.sh purge     stop, drop its database and its state (dist and build stay)
#
# Opt-in: `KOMMUNE_KEYCLOAK=1 make up` starts it with the rest; the Keycloak tests start it on
# demand (kommune.testing.keycloak). Production mode (`kc.sh start --optimized`), not start-dev:
# PostgreSQL storage (database `keycloak` on the platform's server, local or DATABASE_URL), local
# caches (no cluster discovery), plain HTTP on 127.0.0.1:18080 only (KOMMUNE_KEYCLOAK_PORT), fixed
# hostname, so the issuer is http://127.0.0.1:18080/realms/kommune. The realm `kommune` is
# deploy/keycloak/realm-kommune.json plus its dev/test overlay (test client, test users), imported
# at the first start (Keycloak skips a realm that exists: after changing the export, `purge`).
#
# The distribution comes from Maven Central through deploy/local/keycloak/pom.xml, unpacked to
# .run/keycloak/dist (Maven's local repository ~/.m2 keeps the zip, ~170 MB), then `kc.sh build`
# fixes the build-time options once. Both are redone only when the pom or the build options change.
# The admin of the master realm gets a random password at the first start, kept in
# .run/keycloak/admin-password (mode 600). Log: .run/logs/keycloak.log.
set -euo pipefail
KOMMUNE_COMPONENT=keycloak
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONF_DIR="$KOMMUNE_DEPLOY_DIR/keycloak"
REALM_DIR="$KOMMUNE_ROOT/deploy/keycloak"
KC_DIR="$KOMMUNE_RUN_DIR/keycloak"
DIST_PARENT="$KC_DIR/dist"
PID_FILE="$KC_DIR/keycloak.pid"
LOG_FILE="$KOMMUNE_LOG_DIR/keycloak.log"
ADMIN_USER=admin
ADMIN_PASSWORD_FILE="$KC_DIR/admin-password"
REALM=kommune
DATABASE=${KOMMUNE_KEYCLOAK_DATABASE:-keycloak}
START_TIMEOUT=${KOMMUNE_KEYCLOAK_START_TIMEOUT:-600}
STOP_TIMEOUT=${KOMMUNE_KEYCLOAK_STOP_TIMEOUT:-60}
KEYCLOAK_HEAP=${KOMMUNE_KEYCLOAK_HEAP:-"-Xms64m -Xmx768m"}
# Build-time options (kc.sh build): changing them triggers a new build.
BUILD_OPTIONS=(--db=postgres --health-enabled=false --metrics-enabled=false)

KC_VERSION=$(sed -n 's:.*<keycloak.version>\(.*\)</keycloak.version>.*:\1:p' "$CONF_DIR/pom.xml")
[[ -n $KC_VERSION ]] || die "no <keycloak.version> in $CONF_DIR/pom.xml"
KC_HOME="$DIST_PARENT/keycloak-$KC_VERSION"
URL=$KOMMUNE_LOCAL_KEYCLOAK_URL
ISSUER="$URL/realms/$REALM"

# ---- prerequisites -----------------------------------------------------------------------------
ensure_dist() {
    local marker="$DIST_PARENT/.unpacked-from-pom" want
    want=$(sha256sum "$CONF_DIR/pom.xml" | cut -d' ' -f1)
    if [[ -f $marker && $(<"$marker") == "$want" && -x $KC_HOME/bin/kc.sh ]]; then return 0; fi
    ensure_command mvn maven
    log "unpacking Keycloak $KC_VERSION (Maven fetches the zip, ~170 MB, once per machine into ~/.m2)"
    rm -rf "$DIST_PARENT"
    mkdir -p "$KC_DIR"
    local mvn_args=(-q -B -f "$CONF_DIR/pom.xml" dependency:unpack "-DoutputDirectory=$DIST_PARENT"
        "-Dkommune.build.dir=$DIST_PARENT/.maven")
    [[ -n ${KOMMUNE_MAVEN_REPO:-} ]] && mvn_args+=("-Dmaven.repo.local=$KOMMUNE_MAVEN_REPO")
    if ! mvn "${mvn_args[@]}" >"$KC_DIR/mvn.log" 2>&1; then
        show_log_tail "$KC_DIR/mvn.log"
        rm -rf "$DIST_PARENT"
        die "could not fetch the Keycloak distribution (is Maven Central reachable? proxy settings go in ~/.m2/settings.xml)"
    fi
    [[ -x $KC_HOME/bin/kc.sh ]] || die "Maven finished but $KC_HOME/bin/kc.sh is missing"
    printf '%s\n' "$want" >"$marker"
}

# `kc.sh build` bakes the build-time options into the distribution (Quarkus augmentation), so
# every later start can be `start --optimized` (no re-augmentation at each boot).
ensure_build() {
    local marker="$KC_HOME/.built-with" want started=$SECONDS
    want="${BUILD_OPTIONS[*]}"
    if [[ -f $marker && $(<"$marker") == "$want" ]]; then return 0; fi
    log "building Keycloak with ${BUILD_OPTIONS[*]} (once: about a minute)"
    if ! JAVA_OPTS_KC_HEAP=$KEYCLOAK_HEAP "$KC_HOME/bin/kc.sh" build "${BUILD_OPTIONS[@]}" \
        >"$KC_DIR/build.log" 2>&1 </dev/null 9>&-; then
        show_log_tail "$KC_DIR/build.log"
        die "kc.sh build failed"
    fi
    printf '%s\n' "$want" >"$marker"
    log "built in $((SECONDS - started)) s"
}

# Sets DB_HOST DB_PORT DB_USER DB_PASSWORD from the platform's PostgreSQL (local or DATABASE_URL).
database_parts() {
    local url re='^postgres(ql)?://(([^:@/]*)(:([^@/]*))?@)?([^/:?]*)(:([0-9]+))?(/[^?]*)?(\?.*)?$'
    url=$(effective_database_url) || exit 1
    [[ $url =~ $re ]] || die "cannot parse the database URL for Keycloak: $url"
    DB_USER=${BASH_REMATCH[3]} DB_PASSWORD=${BASH_REMATCH[5]}
    DB_HOST=${BASH_REMATCH[6]:-127.0.0.1} DB_PORT=${BASH_REMATCH[8]:-5432}
}

ensure_database() {
    if external_database; then
        ensure_command psql postgresql-client
        local admin_url
        admin_url=$(database_url_for "$DATABASE_URL" "" postgresql)
        if ! psql -X -Atq "$admin_url" -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'" | grep -q 1; then
            psql -X -q "$admin_url" -c "CREATE DATABASE \"$DATABASE\"" ||
                die "could not create database $DATABASE on the server of DATABASE_URL"
        fi
    else
        bash "$KOMMUNE_DEPLOY_DIR/postgres.sh" start >/dev/null
        bash "$KOMMUNE_DEPLOY_DIR/postgres.sh" createdb "$DATABASE" >/dev/null
    fi
}

render_realm() {
    local import_dir="$KC_HOME/data/import"
    mkdir -p "$import_dir"
    python3 "$REALM_DIR/compose_realm.py" --dev >"$import_dir/$REALM-realm.json.tmp" ||
        die "could not compose the realm from $REALM_DIR"
    mv "$import_dir/$REALM-realm.json.tmp" "$import_dir/$REALM-realm.json"
}

ensure_admin_password() {
    [[ -s $ADMIN_PASSWORD_FILE ]] && return 0
    (
        umask 077
        python3 -c 'import secrets; print(secrets.token_urlsafe(24))' >"$ADMIN_PASSWORD_FILE"
    )
}

# ---- process -----------------------------------------------------------------------------------
# The kc.sh process leads its own process group (setsid) and forwards SIGTERM to its java child.
server_pid() {
    local pid
    pid=$(read_pid "$PID_FILE") || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$KC_HOME/bin/kc.sh start" || return 1
    printf '%s\n' "$pid"
}

stray_pids() {
    pgrep -f -- "$(regex_escape "kc.home.dir=$KC_HOME/bin/..")" || true
}

realm_ready() { [[ $(http_status "$ISSUER/.well-known/openid-configuration") == 200 ]]; }

cmd_start() {
    local pid started=$SECONDS
    if pid=$(server_pid) && realm_ready; then
        log "already running on $URL (pid $pid)"
        return 0
    fi
    if [[ -n ${pid:-} ]]; then
        log "Keycloak process $pid exists but the realm does not answer yet; waiting"
    else
        ensure_java17 "Keycloak 26"
        ensure_dist
        ensure_build
        port_open "$KOMMUNE_KEYCLOAK_PORT" &&
            die "port $KOMMUNE_HOST:$KOMMUNE_KEYCLOAK_PORT is taken by another process (another clone's Keycloak? check: ss -ltnp | grep $KOMMUNE_KEYCLOAK_PORT)"
        local stray
        stray=$(stray_pids)
        [[ -z $stray ]] || die "a Keycloak of this checkout runs without a valid pid file (pids: $stray); run: $0 stop"
        ensure_database
        database_parts
        render_realm
        ensure_admin_password
        mkdir -p "$KOMMUNE_LOG_DIR"
        log "starting (log: $LOG_FILE)"
        LOG_OFFSET=$(($(stat -c %s "$LOG_FILE" 2>/dev/null || echo 0) + 1))
        # Secrets go through the environment, not the command line (visible in ps).
        KC_DB_PASSWORD=$DB_PASSWORD \
            KC_BOOTSTRAP_ADMIN_USERNAME=$ADMIN_USER \
            KC_BOOTSTRAP_ADMIN_PASSWORD=$(<"$ADMIN_PASSWORD_FILE") \
            JAVA_OPTS_KC_HEAP=$KEYCLOAK_HEAP \
            setsid nohup "$KC_HOME/bin/kc.sh" start --optimized \
            "--db-url=jdbc:postgresql://$DB_HOST:$DB_PORT/$DATABASE" "--db-username=$DB_USER" \
            --cache=local \
            --http-enabled=true "--http-host=$KOMMUNE_HOST" "--http-port=$KOMMUNE_KEYCLOAK_PORT" \
            "--hostname=$URL" \
            --import-realm \
            >>"$LOG_FILE" 2>&1 </dev/null 9>&- &
        pid=$!
        printf '%s\n' "$pid" >"$PID_FILE"
    fi
    wait_started "$pid"
    check_admin_login
    note_realm_import
    log "running on $URL, issuer $ISSUER (pid $pid, ready after $((SECONDS - started)) s)"
}

wait_started() { # pid
    local pid=$1 i
    for ((i = 0; i < START_TIMEOUT * 4; i++)); do
        if ! pid_alive "$pid"; then
            rm -f "$PID_FILE"
            show_log_tail "$LOG_FILE" 60
            die "Keycloak exited during start-up (see above)"
        fi
        realm_ready && return 0
        sleep 0.25
    done
    show_log_tail "$LOG_FILE" 60
    die "realm $REALM did not answer at $ISSUER within ${START_TIMEOUT}s (pid $pid still runs; '$0 stop' ends it)"
}

# Keycloak imports the realm only into a database that lacks it. Remember what was imported, and
# say so when the export changed since (the running realm is then older than deploy/keycloak).
note_realm_import() {
    local logged current stamp="$KC_DIR/imported-realm.sha256"
    [[ -n ${LOG_OFFSET:-} ]] || return 0 # a start we did not launch
    logged=$(tail -c "+$LOG_OFFSET" "$LOG_FILE" 2>/dev/null || true)
    current=$(sha256sum "$KC_HOME/data/import/$REALM-realm.json" | cut -d' ' -f1)
    if grep -q "Realm '$REALM' imported" <<<"$logged"; then
        printf '%s\n' "$current" >"$stamp"
    elif [[ ! -f $stamp || $(<"$stamp") != "$current" ]]; then
        warn "realm $REALM was imported earlier from another version of deploy/keycloak; to re-import: $0 purge && $0 start"
    fi
}

# The admin password is created once with the database; a lost password file (e.g. `make clean`
# with an external database) would leave the tests locked out, so say it now.
check_admin_login() {
    local status
    status=$(ADMIN_PASSWORD=$(<"$ADMIN_PASSWORD_FILE") python3 - "$URL" "$ADMIN_USER" <<'PY' 2>/dev/null || echo 000
import os, sys, urllib.error, urllib.parse, urllib.request
url, user = sys.argv[1], sys.argv[2]
form = {"grant_type": "password", "client_id": "admin-cli", "username": user,
        "password": os.environ["ADMIN_PASSWORD"]}
request = urllib.request.Request(f"{url}/realms/master/protocol/openid-connect/token",
                                 data=urllib.parse.urlencode(form).encode())
try:
    with urllib.request.urlopen(request, timeout=30) as response:
        print(response.status, end="")
except urllib.error.HTTPError as exc:
    print(exc.code, end="")
PY
    )
    [[ $status == 200 ]] ||
        die "the admin password in $ADMIN_PASSWORD_FILE does not log in (HTTP $status); it is set when Keycloak's database is created: run '$0 purge' and start again"
}

cmd_stop() {
    local pids
    pids=$( (server_pid || true; stray_pids) | sort -u)
    # shellcheck disable=SC2086 # one word per pid
    stop_server "keycloak" "$KOMMUNE_KEYCLOAK_PORT" "$PID_FILE" "$STOP_TIMEOUT" $pids
}

cmd_status() {
    local pid
    if pid=$(server_pid) && realm_ready; then
        log "running on $URL, issuer $ISSUER, pid $pid, log $LOG_FILE"
    elif [[ -n ${pid:-} ]]; then
        log "process $pid exists but $ISSUER does not answer (starting, or hung: see $LOG_FILE)"
        return 3
    else
        log "not running"
        return 3
    fi
}

cmd_env() {
    printf 'KOMMUNE_KEYCLOAK_URL=%q\nKOMMUNE_KEYCLOAK_ISSUER=%q\nKOMMUNE_KEYCLOAK_ADMIN_USER=%q\nKOMMUNE_KEYCLOAK_ADMIN_PASSWORD_FILE=%q\n' \
        "$URL" "$ISSUER" "$ADMIN_USER" "$ADMIN_PASSWORD_FILE"
}

cmd_purge() {
    cmd_stop
    if external_database; then
        ensure_command psql postgresql-client
        psql -X -q "$(database_url_for "$DATABASE_URL" "" postgresql)" \
            -c "DROP DATABASE IF EXISTS \"$DATABASE\" WITH (FORCE)" || die "could not drop database $DATABASE"
    elif bash "$KOMMUNE_DEPLOY_DIR/postgres.sh" status >/dev/null 2>&1; then
        bash "$KOMMUNE_DEPLOY_DIR/postgres.sh" psql -q -c "DROP DATABASE IF EXISTS \"$DATABASE\" WITH (FORCE)" ||
            die "could not drop database $DATABASE"
    else
        warn "the local PostgreSQL is not running: database $DATABASE is kept (start it and purge again)"
    fi
    log "deleting Keycloak state (admin password, imported realm file; the distribution stays)"
    rm -f "$ADMIN_PASSWORD_FILE" "$KC_DIR/imported-realm.sha256" "$KC_HOME/data/import/$REALM-realm.json"
}

case ${1:-} in
start | stop | purge) take_lock keycloak ;;
esac
case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env ;;
purge) cmd_purge ;;
*)
    echo "usage: $0 {start|stop|status|env|purge}" >&2
    exit 2
    ;;
esac
