#!/usr/bin/env bash
# Project-local Apache Kafka 4.1.1 broker for development and tests (no Docker).
#
#   deploy/local/kafka.sh start     resolve jars (first time), format storage (first time), start, wait
#   deploy/local/kafka.sh stop      SIGTERM (controlled shutdown), then SIGKILL after a timeout
#   deploy/local/kafka.sh status    running or not
#   deploy/local/kafka.sh purge     stop and delete the broker's data (topics, offsets); jars stay
#
# KRaft mode, one process that is both broker and controller, static quorum of one voter.
# PLAINTEXT on 127.0.0.1:19092 (clients), controller on 127.0.0.1:19093. Data, log and pid under
# <repo>/.run/kafka; the data survives stop/start (only `purge` or `make clean` remove it).
#
# Jars come from Maven Central through deploy/local/kafka/pom.xml, copied to .run/kafka/libs.
# Maven's local repository is the default ~/.m2 (override with KOMMUNE_MAVEN_REPO): it outlives
# `make clean` and is shared by every clone and worktree on the machine, so only the first start
# on a machine downloads (~65 MB); CI can cache it like any Maven cache.
set -euo pipefail
KOMMUNE_COMPONENT=kafka
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONF_DIR="$KOMMUNE_DEPLOY_DIR/kafka"
KAFKA_DIR="$KOMMUNE_RUN_DIR/kafka"
LIBS_DIR="$KAFKA_DIR/libs"
DATA_DIR="$KAFKA_DIR/data"
PROPS="$KAFKA_DIR/server.properties"
PID_FILE="$KAFKA_DIR/kafka.pid"
SERVER_LOG="$KAFKA_DIR/server.log"
STDOUT_LOG="$KAFKA_DIR/kafka.out"
CLUSTER_ID_FILE="$KAFKA_DIR/cluster-id"
START_TIMEOUT=${KOMMUNE_KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${KOMMUNE_KAFKA_STOP_TIMEOUT:-60}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:-"-Xmx512m -Xms256m"}

java_opts() {
    # shellcheck disable=SC2206 # word splitting of the heap options is intended
    JAVA_OPTS=(
        $KAFKA_HEAP_OPTS
        -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
        -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError
        -Djava.awt.headless=true
        "-Dkafka.logs.dir=$KAFKA_DIR"
        "-Dlog4j2.configurationFile=$CONF_DIR/log4j2.properties"
        -cp "$LIBS_DIR/*"
    )
}

# ---- prerequisites -----------------------------------------------------------------------------
pom_hash() { sha256sum "$CONF_DIR/pom.xml" | cut -d' ' -f1; }

ensure_jars() {
    local marker="$LIBS_DIR/.resolved-from-pom" want
    want=$(pom_hash)
    if [[ -f $marker && $(<"$marker") == "$want" ]]; then return 0; fi
    ensure_command mvn maven
    log "resolving the Kafka jars from Maven Central (first start on this machine: about a minute)"
    rm -rf "$LIBS_DIR"
    mkdir -p "$KAFKA_DIR"
    local mvn_args=(-q -B -f "$CONF_DIR/pom.xml" dependency:copy-dependencies "-DoutputDirectory=$LIBS_DIR")
    [[ -n ${KOMMUNE_MAVEN_REPO:-} ]] && mvn_args+=("-Dmaven.repo.local=$KOMMUNE_MAVEN_REPO")
    if ! mvn "${mvn_args[@]}" >"$KAFKA_DIR/mvn.log" 2>&1; then
        show_log_tail "$KAFKA_DIR/mvn.log"
        rm -rf "$LIBS_DIR"
        die "could not resolve the Kafka jars (is Maven Central reachable? proxy settings go in ~/.m2/settings.xml)"
    fi
    compgen -G "$LIBS_DIR/kafka_2.13-*.jar" >/dev/null || die "Maven finished but $LIBS_DIR has no kafka_2.13 jar"
    printf '%s\n' "$want" >"$marker"
    log "$(find "$LIBS_DIR" -name '*.jar' | wc -l) jars in $LIBS_DIR"
}

render_config() {
    local tpl
    tpl=$(<"$CONF_DIR/server.properties.template")
    tpl=${tpl//@HOST@/$KOMMUNE_HOST}
    tpl=${tpl//@PORT@/$KOMMUNE_KAFKA_PORT}
    tpl=${tpl//@CONTROLLER_PORT@/$KOMMUNE_KAFKA_CONTROLLER_PORT}
    tpl=${tpl//@DATA_DIR@/$DATA_DIR}
    printf '%s\n' "$tpl" >"$PROPS.tmp"
    mv "$PROPS.tmp" "$PROPS"
}

format_storage() {
    [[ -f $DATA_DIR/meta.properties ]] && return 0
    local cluster_id
    if [[ -s $CLUSTER_ID_FILE ]]; then
        cluster_id=$(<"$CLUSTER_ID_FILE")
    else
        # A Kafka cluster id is a random UUID, base64url without padding (22 characters).
        cluster_id=$(python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')
        printf '%s\n' "$cluster_id" >"$CLUSTER_ID_FILE"
    fi
    log "formatting storage in $DATA_DIR (cluster id $cluster_id)"
    mkdir -p "$DATA_DIR"
    java_opts
    if ! java "${JAVA_OPTS[@]}" kafka.tools.StorageTool format --config "$PROPS" \
        "--cluster-id=$cluster_id" >"$KAFKA_DIR/format.log" 2>&1; then
        show_log_tail "$KAFKA_DIR/format.log"
        die "kafka-storage format failed"
    fi
}

# ---- process -----------------------------------------------------------------------------------
# PID of our broker if it runs: the pid file's process, checked to be a kafka.Kafka with our config
# (guards against a recycled pid).
broker_pid() {
    local pid
    pid=$(read_pid "$PID_FILE") || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $PROPS" || return 1
    printf '%s\n' "$pid"
}

# Brokers started from this run dir without (or with a stale) pid file.
stray_pids() {
    pgrep -f -- "$(regex_escape "kafka.Kafka $PROPS")" || true
}

cmd_start() {
    local pid
    if pid=$(broker_pid) && port_open "$KOMMUNE_KAFKA_PORT"; then
        log "already running on $KOMMUNE_LOCAL_KAFKA_BOOTSTRAP (pid $pid)"
        return 0
    fi
    if [[ -n ${pid:-} ]]; then
        # Process exists but does not listen yet: a start in progress (or a hung broker).
        log "broker process $pid exists but does not answer yet; waiting"
    else
        ensure_java17 "Kafka 4.x"
        ensure_jars
        local p
        for p in "$KOMMUNE_KAFKA_PORT" "$KOMMUNE_KAFKA_CONTROLLER_PORT"; do
            port_open "$p" && die "port $KOMMUNE_HOST:$p is taken by another process (another clone's broker? check: ss -ltnp | grep $p)"
        done
        local stray
        stray=$(stray_pids)
        [[ -z $stray ]] || die "a broker for this run dir runs without a valid pid file (pids: $stray); run: $0 stop"
        mkdir -p "$KAFKA_DIR"
        render_config
        format_storage
        java_opts
        log "starting (log: $SERVER_LOG)"
        # Only log lines written after this point count as "started".
        LOG_OFFSET=$(($(stat -c %s "$SERVER_LOG" 2>/dev/null || echo 0) + 1))
        # setsid: own session and process group, so `stop` can signal the whole group and the
        # broker survives the shell (and make) that started it.
        setsid nohup java "${JAVA_OPTS[@]}" kafka.Kafka "$PROPS" >>"$STDOUT_LOG" 2>&1 </dev/null 9>&- &
        pid=$!
        printf '%s\n' "$pid" >"$PID_FILE"
    fi
    wait_started "$pid"
    log "running on $KOMMUNE_LOCAL_KAFKA_BOOTSTRAP (pid $pid)"
}

wait_started() { # pid
    local pid=$1 i
    : "${LOG_OFFSET:=1}"
    for ((i = 0; i < START_TIMEOUT * 5; i++)); do
        if ! pid_alive "$pid"; then
            rm -f "$PID_FILE"
            show_log_tail "$STDOUT_LOG" 20
            show_log_tail "$SERVER_LOG" 40
            die "the broker exited during start-up (see above)"
        fi
        # The log rolled over (50 MB) since we looked: read the new file from its start.
        if (($(stat -c %s "$SERVER_LOG" 2>/dev/null || echo 0) + 1 < LOG_OFFSET)); then LOG_OFFSET=1; fi
        if tail -c "+$LOG_OFFSET" "$SERVER_LOG" 2>/dev/null | grep -q 'Kafka Server started' &&
            port_open "$KOMMUNE_KAFKA_PORT"; then
            return 0
        fi
        # A start in progress that we did not launch: the port is the signal.
        if [[ $LOG_OFFSET == 1 && -f $SERVER_LOG ]] && ((i > 0)) && port_open "$KOMMUNE_KAFKA_PORT"; then
            return 0
        fi
        sleep 0.2
    done
    show_log_tail "$SERVER_LOG" 60
    die "the broker did not log 'Kafka Server started' within ${START_TIMEOUT}s (pid $pid still runs; '$0 stop' ends it)"
}

cmd_stop() {
    local pids
    pids=$( (broker_pid || true; stray_pids) | sort -u)
    # shellcheck disable=SC2086 # one word per pid
    stop_server "kafka broker" "$KOMMUNE_KAFKA_PORT" "$PID_FILE" "$STOP_TIMEOUT" $pids
}

cmd_status() {
    local pid
    if pid=$(broker_pid) && port_open "$KOMMUNE_KAFKA_PORT"; then
        log "running on $KOMMUNE_LOCAL_KAFKA_BOOTSTRAP, pid $pid, data $DATA_DIR, log $SERVER_LOG"
    elif [[ -n ${pid:-} ]]; then
        log "process $pid exists but $KOMMUNE_LOCAL_KAFKA_BOOTSTRAP does not answer (starting, or hung: see $SERVER_LOG)"
        return 3
    else
        log "not running"
        return 3
    fi
}

cmd_purge() {
    cmd_stop
    log "deleting broker data in $KAFKA_DIR (jars are kept)"
    rm -rf "$DATA_DIR" "$CLUSTER_ID_FILE" "$PROPS"
}

case ${1:-} in
start | stop | purge) take_lock kafka ;;
esac
case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
purge) cmd_purge ;;
*)
    echo "usage: $0 {start|stop|status|purge}" >&2
    exit 2
    ;;
esac
