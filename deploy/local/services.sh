#!/usr/bin/env bash
# The Python services and the gateway, each a background uvicorn on 127.0.0.1.
#
#   deploy/local/services.sh start [NAME...]     migrate, start, wait for /readyz, load demo data
#   deploy/local/services.sh stop [NAME...]      SIGTERM, wait, SIGKILL; nothing left behind
#   deploy/local/services.sh restart [NAME...]
#   deploy/local/services.sh status              one line per service
#   deploy/local/services.sh urls                where to point a browser
#   deploy/local/services.sh env NAME            the environment a service gets (to run it by hand:
#                                                eval "$(deploy/local/services.sh env ideas)")
#   deploy/local/services.sh verify-stopped      fail if a service process or port is still alive
#
# PostgreSQL and Kafka must be up (deploy/local/infra.sh start, or DATABASE_URL /
# KAFKA_BOOTSTRAP_SERVERS pointing elsewhere). Logs: .run/logs/<name>.log, pids: .run/pids/<name>.pid.
set -euo pipefail
KOMMUNE_COMPONENT=services
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---- the services: one row each, in start order -------------------------------------------------
# The gateway comes first: it is the dev OIDC issuer every service trusts. A row whose package has
# no src/<package>/main.py yet is skipped with a notice, so rows may precede their code.
#
#   name        ASGI app                       port   database
SERVICES_TABLE='
    gateway     kommune_gateway.main:app       8000   gateway
    ideas       kommune_ideas.main:app         8101   ideas
    documents   kommune_documents.main:app     8102   documents
    egov        kommune_egov.main:app          8103   egov
    sensors     kommune_sensors.main:app       8104   sensors
'
READY_TIMEOUT=${KOMMUNE_READY_TIMEOUT:-60}
STOP_TIMEOUT=${KOMMUNE_STOP_TIMEOUT:-20}
DEV_ISSUER_DIR="$KOMMUNE_RUN_DIR/dev-issuer"

NAMES=()
declare -A APP PORT DB
while read -r name app port db; do
    [[ -n ${name:-} ]] || continue
    NAMES+=("$name")
    APP[$name]=$app
    PORT[$name]=$port
    DB[$name]=$db
done <<<"$SERVICES_TABLE"

package_dir() { # name
    if [[ $1 == gateway ]]; then
        printf '%s\n' "$KOMMUNE_ROOT/gateway"
    else
        printf '%s\n' "$KOMMUNE_ROOT/services/$1"
    fi
}

module_file() { # name -> path of the module that holds the ASGI app
    local module=${APP[$1]%%:*}
    printf '%s/src/%s.py\n' "$(package_dir "$1")" "${module//.//}"
}

implemented() { [[ -f $(module_file "$1") ]]; }

known() { [[ -n ${APP[$1]:-} ]] || die "unknown service '$1' (known: ${NAMES[*]})"; }

pid_file() { printf '%s/%s.pid\n' "$KOMMUNE_PID_DIR" "$1"; }
log_file() { printf '%s/%s.log\n' "$KOMMUNE_LOG_DIR" "$1"; }
url_of() { printf 'http://%s:%s\n' "$KOMMUNE_HOST" "${PORT[$1]}"; }

# ---- environment of a service ------------------------------------------------------------------
# Prints NAME=value lines: exactly the variables the services read (see docs/operations.md).
# The dev services use the empty topic prefix (logical topic names), whatever the shell exports;
# test sessions use a prefix of their own, so their events never reach these services.
# Environment and issuer are set explicitly: the defaults are production and no issuer, which
# mount no dev issuer and accept no token (ADR 0005). Audiences stay at their per-service
# defaults (kommune-<name>); the gateway's dev tokens list all of them.
service_env() { # name
    local name=$1 prefix db_url kafka other
    prefix=$(tr '[:lower:]-' '[:upper:]_' <<<"$name")
    db_url=$(effective_database_url) || exit 1
    db_url=$(database_url_for "$db_url" "${DB[$name]}" postgresql+asyncpg) || exit 1
    kafka=$(effective_kafka_bootstrap)
    local issuer
    issuer="$(url_of gateway)/auth/dev"
    # KOMMUNE_KEYCLOAK=1: trust the local Keycloak's realm; each service checks its own audience
    # (kommune-<name>, the default), which the realm's audience mappers put into every token.
    if keycloak_opted_in; then
        issuer="$KOMMUNE_LOCAL_KEYCLOAK_URL/realms/kommune"
    fi
    printf '%s\n' \
        "KOMMUNE_ENVIRONMENT=dev" \
        "KOMMUNE_OIDC_ISSUER=$issuer" \
        "KOMMUNE_KAFKA_TOPIC_PREFIX=" \
        "${prefix}_DATABASE_URL=$db_url" \
        "${prefix}_KAFKA_BOOTSTRAP_SERVERS=$kafka" \
        "${prefix}_PUBLIC_BASE_URL=$(url_of gateway)"
    if [[ $name == gateway ]]; then
        printf '%s\n' "KOMMUNE_DEV_ISSUER_KEY_FILE=$DEV_ISSUER_DIR/jwk.json"
        # An empty URL tells the gateway a service is not deployed: its routes answer 503.
        for other in "${NAMES[@]}"; do
            [[ $other == gateway ]] && continue
            printf 'GATEWAY_UPSTREAM_%s=%s\n' "$(tr '[:lower:]-' '[:upper:]_' <<<"$other")" \
                "$(implemented "$other" && url_of "$other")"
        done
    fi
}

# ---- state -------------------------------------------------------------------------------------
# The process group of a running service (its id is the leader's pid, kept in the pid file). A
# group whose leader died but whose uvicorn lives on still counts: it holds the port.
service_pid() { # name
    local pid
    [[ -r $(pid_file "$1") ]] || return 1
    pid=$(<"$(pid_file "$1")")
    [[ $pid =~ ^[0-9]+$ ]] && group_alive "$pid" && printf '%s\n' "$pid"
}

ready() { # name
    [[ $(http_status "$(url_of "$1")/readyz") == 200 ]]
}

# ---- start -------------------------------------------------------------------------------------
ensure_database() { # name
    local db=${DB[$1]}
    if external_database; then
        local admin
        admin=$(effective_database_url) || exit 1
        command -v psql >/dev/null 2>&1 || {
            warn "psql not installed: cannot check that database '$db' exists on the DATABASE_URL server"
            return 0
        }
        if ! psql -X "$admin" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
            psql -X "$admin" -qc "CREATE DATABASE \"$db\"" ||
                die "database '$db' does not exist on the DATABASE_URL server and could not be created"
        fi
    else
        bash "$KOMMUNE_DEPLOY_DIR/postgres.sh" createdb "$db" >/dev/null
    fi
}

migrate() { # name
    local name=$1 ini rel
    ini="$(package_dir "$name")/alembic.ini"
    [[ -f $ini ]] || return 0
    rel=${ini#"$KOMMUNE_ROOT"/}
    log "$name: alembic upgrade head ($rel)"
    local env_args
    mapfile -t env_args < <(service_env "$name")
    if ! (cd "$KOMMUNE_ROOT" && env "${env_args[@]}" "${UV[@]}" run --frozen --package "kommune-$name" \
        alembic -c "$rel" upgrade head) >"$KOMMUNE_LOG_DIR/$name-migrate.log" 2>&1; then
        show_log_tail "$KOMMUNE_LOG_DIR/$name-migrate.log"
        die "$name: migrations failed"
    fi
}

launch() { # name
    local name=$1 env_args pid
    mapfile -t env_args < <(service_env "$name")
    log "$name: starting $(url_of "$name") (log: $(log_file "$name"))"
    printf '\n===== %s starting %s =====\n' "$(date -Is)" "$name" >>"$(log_file "$name")"
    # setsid: own process group (stop signals all of it) that outlives this shell and make.
    # kommune.serve: uvicorn with the edge limits (header/body deadlines, header size) and
    # /metrics on port + 1000 (docs/adr/0009-limits-at-the-edge.md).
    # --timeout-graceful-shutdown: long-lived streams (the live feed) must not block a stop.
    (cd "$KOMMUNE_ROOT" && exec setsid env "${env_args[@]}" nohup "${UV[@]}" run --frozen \
        python -m kommune.serve "${APP[$name]}" --host "$KOMMUNE_HOST" --port "${PORT[$name]}" \
        --timeout-graceful-shutdown 5 \
        >>"$(log_file "$name")" 2>&1 </dev/null 9>&-) &
    pid=$!
    printf '%s\n' "$pid" >"$(pid_file "$name")"
}

wait_ready() { # name
    local name=$1 pid deadline=$((SECONDS + READY_TIMEOUT))
    while ((SECONDS < deadline)); do
        pid=$(service_pid "$name") || {
            show_log_tail "$(log_file "$name")"
            die "$name exited during start-up (see its log above)"
        }
        ready "$name" && return 0
        sleep 0.25
    done
    show_log_tail "$(log_file "$name")"
    die "$name did not answer 200 on $(url_of "$name")/readyz within ${READY_TIMEOUT}s (pid ${pid:-?} still runs; '$0 stop' ends it)"
}

demo_data() { # name
    local name=$1 module=${APP[$1]%%.*} env_args
    [[ -f "$(package_dir "$name")/src/$module/demo.py" ]] || return 0
    log "$name: loading demo data (python -m $module.demo)"
    mapfile -t env_args < <(service_env "$name")
    if ! (cd "$KOMMUNE_ROOT" && env "${env_args[@]}" "${UV[@]}" run --frozen --package "kommune-$name" \
        python -m "$module.demo") >"$KOMMUNE_LOG_DIR/$name-demo.log" 2>&1; then
        show_log_tail "$KOMMUNE_LOG_DIR/$name-demo.log"
        die "$name: demo data failed (the service itself is running)"
    fi
}

# SELECTED := the names given on the command line (checked), or all of them.
select_names() {
    local n
    if (($#)); then
        for n in "$@"; do known "$n"; done
        SELECTED=("$@")
    else
        SELECTED=("${NAMES[@]}")
    fi
}

# Fail early, with the fix, when PostgreSQL or Kafka is not there.
check_infra() {
    if external_database; then
        database_url_for "$DATABASE_URL" "" postgresql >/dev/null # dies on a malformed URL
    elif ! port_open "$KOMMUNE_PG_PORT"; then
        die "PostgreSQL is not running on $KOMMUNE_HOST:$KOMMUNE_PG_PORT — start it: make infra (or deploy/local/postgres.sh start)"
    fi
    if ! external_kafka && ! port_open "$KOMMUNE_KAFKA_PORT"; then
        die "Kafka is not running on $KOMMUNE_LOCAL_KAFKA_BOOTSTRAP — start it: make infra (or deploy/local/kafka.sh start)"
    fi
}

cmd_start() {
    local name started=() waiting=() skipped=()
    select_names "$@"
    resolve_uv
    mkdir -p "$KOMMUNE_LOG_DIR" "$KOMMUNE_PID_DIR" "$DEV_ISSUER_DIR"
    chmod 700 "$DEV_ISSUER_DIR"
    for name in "${SELECTED[@]}"; do
        if ! implemented "$name"; then
            skipped+=("$name")
            continue
        fi
        if service_pid "$name" >/dev/null; then
            if ready "$name"; then
                log "$name: already running on $(url_of "$name")"
            else
                waiting+=("$name")
            fi
            continue
        fi
        check_infra
        if [[ $name == documents ]]; then ensure_ocr_tools; fi
        port_open "${PORT[$name]}" &&
            die "$name: port $KOMMUNE_HOST:${PORT[$name]} is taken by a process we did not start (check: ss -ltnp | grep ${PORT[$name]})"
        ensure_database "$name"
        migrate "$name"
        launch "$name"
        started+=("$name")
        waiting+=("$name")
    done
    ((${#skipped[@]} == 0)) || log "not implemented yet, skipped: ${skipped[*]}"
    for name in "${waiting[@]}"; do
        wait_ready "$name"
        log "$name: ready"
    done
    for name in "${started[@]}"; do demo_data "$name"; done
}

cmd_stop() {
    local name pid i
    select_names "$@"
    # Reverse order: the gateway (first started) stops last.
    for ((i = ${#SELECTED[@]} - 1; i >= 0; i--)); do
        name=${SELECTED[i]}
        if pid=$(service_pid "$name"); then
            log "$name: stopping (pid $pid)"
            stop_process_group "$pid" "$name" "$STOP_TIMEOUT"
        fi
        rm -f "$(pid_file "$name")"
    done
    cmd_verify_stopped "${SELECTED[@]}"
}

cmd_status() {
    local name pid state rc=0
    for name in "${NAMES[@]}"; do
        if ! implemented "$name"; then
            state="not implemented yet"
        elif pid=$(service_pid "$name"); then
            if ready "$name"; then state="ready (pid $pid)"; else state="running, NOT ready (pid $pid)"; rc=3; fi
        else
            state="stopped"
            rc=3
        fi
        printf '[services] %-10s %-24s %s\n' "$name" "$(url_of "$name")" "$state"
    done
    return $rc
}

cmd_urls() {
    local name
    echo
    echo "Kommune is up:"
    printf '  %-22s %s\n' "gateway (public API)" "$(url_of gateway)" "API docs" "$(url_of gateway)/docs"
    for name in "${NAMES[@]}"; do
        if [[ $name == gateway ]] || ! implemented "$name"; then continue; fi
        printf '  %-22s %s   (docs: %s/docs)\n' "$name" "$(url_of "$name")" "$(url_of "$name")"
    done
    printf '  %-22s %s\n' "PostgreSQL" "$(effective_database_url | sed -E 's#//([^:/@]+):[^@]*@#//\1:***@#')" \
        "Kafka" "$(effective_kafka_bootstrap)"
    if keycloak_opted_in; then
        printf '  %-22s %s   (test users: docs/operations.md#keycloak)\n' "Keycloak issuer" \
            "$KOMMUNE_LOCAL_KEYCLOAK_URL/realms/kommune"
    fi
    echo "Logs: make logs (files in .run/logs). Stop: make down."
}

cmd_verify_stopped() { # [names]
    local name left=""
    select_names "$@"
    for name in "${SELECTED[@]}"; do
        if service_pid "$name" >/dev/null; then left+=" $name(pid $(<"$(pid_file "$name")"))"; fi
        if port_open "${PORT[$name]}"; then left+=" $name(port ${PORT[$name]} still in use)"; fi
    done
    [[ -z $left ]] || die "still alive:$left"
}

case ${1:-} in
start | stop | restart) take_lock services ;;
esac
case ${1:-} in
start) shift && cmd_start "$@" ;;
stop) shift && cmd_stop "$@" ;;
restart) shift && cmd_stop "$@" && cmd_start "$@" ;;
status) cmd_status ;;
urls) cmd_urls ;;
env)
    (($# == 2)) || die "usage: $0 env NAME"
    known "$2"
    check_infra
    service_env "$2" | while IFS='=' read -r var value; do printf 'export %s=%q\n' "$var" "$value"; done
    ;;
verify-stopped) shift && cmd_verify_stopped "$@" ;;
*)
    echo "usage: $0 {start|stop|restart|status|urls|env NAME|verify-stopped} [NAME...]" >&2
    exit 2
    ;;
esac
