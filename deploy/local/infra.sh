#!/usr/bin/env bash
# PostgreSQL + Kafka together (+ Keycloak with KOMMUNE_KEYCLOAK=1), honouring the overrides.
#
#   deploy/local/infra.sh start            start local PostgreSQL and Kafka, unless overridden;
#                                          with KOMMUNE_KEYCLOAK=1 also Keycloak (keycloak.sh)
#   deploy/local/infra.sh stop             stop all three (always: a no-op for what is not running)
#   deploy/local/infra.sh status           state of both
#   deploy/local/infra.sh verify-stopped   fail if a process of ours is still alive
#   deploy/local/infra.sh env              print the effective endpoints as shell assignments
#
# Overrides: with DATABASE_URL set (postgresql://user:pass@host:port/db) the local PostgreSQL is not
# started and everything uses that server; with KAFKA_BOOTSTRAP_SERVERS set (host:port[,...]) the
# local broker is not started.
set -euo pipefail
KOMMUNE_COMPONENT=infra
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE=$KOMMUNE_DEPLOY_DIR

cmd_start() {
    if external_database; then
        log "DATABASE_URL is set: using that PostgreSQL, not starting the local one"
    else
        bash "$HERE/postgres.sh" start
    fi
    if external_kafka; then
        log "KAFKA_BOOTSTRAP_SERVERS is set: using $KAFKA_BOOTSTRAP_SERVERS, not starting the local broker"
    else
        bash "$HERE/kafka.sh" start
    fi
    if keycloak_opted_in; then bash "$HERE/keycloak.sh" start; fi
}

cmd_stop() {
    bash "$HERE/keycloak.sh" stop
    bash "$HERE/kafka.sh" stop
    bash "$HERE/postgres.sh" stop
}

cmd_status() {
    local rc=0
    if external_database; then log "PostgreSQL: external (DATABASE_URL)"; fi
    bash "$HERE/postgres.sh" status || rc=3
    if external_kafka; then log "Kafka: external (KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS)"; fi
    bash "$HERE/kafka.sh" status || rc=3
    if keycloak_opted_in; then
        bash "$HERE/keycloak.sh" status || rc=3
    else
        bash "$HERE/keycloak.sh" status 2>/dev/null | sed 's/$/ (opt-in: KOMMUNE_KEYCLOAK=1)/' || true
    fi
    return $rc
}

# After `make down`: no process started from this checkout may survive, and none of our ports may
# still accept connections.
cmd_verify_stopped() {
    local left="" pg_dir port
    pg_dir=$(bash "$HERE/postgres.sh" dir)
    left=$(pgrep -a -f -- "$(regex_escape "$KOMMUNE_RUN_DIR/")|$(regex_escape "$pg_dir/")" || true)
    # Our ports must be closed too, except where an override says another server lives there.
    local ports=()
    external_database || ports+=("$KOMMUNE_PG_PORT")
    external_kafka || ports+=("$KOMMUNE_KAFKA_PORT" "$KOMMUNE_KAFKA_CONTROLLER_PORT")
    ports+=("$KOMMUNE_KEYCLOAK_PORT")
    for port in "${ports[@]}"; do
        if port_open "$port"; then left+=$'\n'"something still listens on $KOMMUNE_HOST:$port (ss -ltnp | grep $port)"; fi
    done
    if [[ -n $left ]]; then
        die "processes of the local runtime are still alive:"$'\n'"$left"
    fi
    log "verified: no PostgreSQL, Kafka or Keycloak process of this checkout is left"
}

cmd_env() {
    local db kafka
    db=$(effective_database_url) || exit 1
    kafka=$(effective_kafka_bootstrap)
    printf 'KOMMUNE_DATABASE_URL=%q\nKOMMUNE_KAFKA_BOOTSTRAP_SERVERS=%q\n' "$db" "$kafka"
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
verify-stopped) cmd_verify_stopped ;;
env) cmd_env ;;
*)
    echo "usage: $0 {start|stop|status|verify-stopped|env}" >&2
    exit 2
    ;;
esac
