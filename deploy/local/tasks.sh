#!/usr/bin/env bash
# The developer tasks behind the Makefile (which stays a thin list of entry points).
#
#   deploy/local/tasks.sh install           uv (from PyPI if missing) + uv sync --all-packages --frozen
#   deploy/local/tasks.sh test [ARGS...]    pytest against the real PostgreSQL and Kafka
#   deploy/local/tasks.sh bench             every bench/bench_*.py, then print bench/results.json
#   deploy/local/tasks.sh logs [LINES]      the tail of every log of the local runtime
#   deploy/local/tasks.sh clean             delete all local state (servers must be stopped: make down)
set -euo pipefail
KOMMUNE_COMPONENT=tasks
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$KOMMUNE_ROOT"

cmd_install() {
    if ! command -v uv >/dev/null 2>&1 && ! python3 -c 'import uv' >/dev/null 2>&1; then
        ensure_command python3 python3
        if ! python3 -m pip --version >/dev/null 2>&1; then
            ensure_debian_packages python3-pip
        fi
        log "installing uv from PyPI (python3 -m pip install uv)"
        if ! python3 -m pip install --quiet uv 2>"$KOMMUNE_RUN_DIR/pip-uv.log"; then
            if grep -q externally-managed "$KOMMUNE_RUN_DIR/pip-uv.log"; then
                # Debian's python3 is "externally managed" (PEP 668). uv is one self-contained
                # binary that touches no Debian-packaged module, so installing it beside them is safe.
                local where=()
                is_root || where=(--user)
                python3 -m pip install --quiet "${where[@]}" --break-system-packages uv ||
                    die "could not install uv with pip"
            else
                cat "$KOMMUNE_RUN_DIR/pip-uv.log" >&2
                die "could not install uv with pip"
            fi
        fi
        hash -r
    fi
    resolve_uv
    "${UV[@]}" sync --all-packages --frozen
}

# The endpoints tests and benchmarks use: the local servers, or the overrides.
export_test_env() {
    KOMMUNE_TEST_DATABASE_URL=$(effective_database_url) || exit 1
    KOMMUNE_TEST_KAFKA_BOOTSTRAP_SERVERS=$(effective_kafka_bootstrap)
    export KOMMUNE_TEST_DATABASE_URL KOMMUNE_TEST_KAFKA_BOOTSTRAP_SERVERS
}

cmd_test() {
    resolve_uv
    ensure_ocr_tools # the documents tests OCR real scans
    export_test_env
    log "pytest against $KOMMUNE_TEST_DATABASE_URL and Kafka $KOMMUNE_TEST_KAFKA_BOOTSTRAP_SERVERS"
    local rc=0
    "${UV[@]}" run --frozen pytest "$@" || rc=$?
    if ((rc == 5)); then
        printf '[tasks] ERROR: pytest collected no tests (exit code 5): a run that tests nothing fails\n' >&2
    fi
    return $rc
}

cmd_bench() {
    resolve_uv
    export_test_env
    local scripts=() script
    mapfile -t scripts < <(find bench -maxdepth 1 -name 'bench_*.py' -type f | sort)
    ((${#scripts[@]})) || die "no benchmarks found (bench/bench_*.py)"
    rm -f bench/results.json # only figures of this run
    for script in "${scripts[@]}"; do
        log "running $script"
        "${UV[@]}" run --frozen python "$script" || die "$script failed"
    done
    [[ -f bench/results.json ]] || die "the benchmarks wrote no bench/results.json"
    echo
    echo "bench/results.json:"
    python3 -m json.tool bench/results.json
}

cmd_logs() {
    local lines=${1:-50} files=() file pg_dir
    pg_dir=$(bash "$KOMMUNE_DEPLOY_DIR/postgres.sh" dir)
    for file in "$KOMMUNE_LOG_DIR"/*.log "$KOMMUNE_RUN_DIR/kafka/server.log" \
        "$KOMMUNE_RUN_DIR/kafka/kafka.out" "$pg_dir/postgres.log"; do
        [[ -f $file ]] && files+=("$file")
    done
    ((${#files[@]})) || {
        log "no logs yet (nothing has been started)"
        return 0
    }
    for file in "${files[@]}"; do
        printf '\n===== %s (last %s lines) =====\n' "${file#"$KOMMUNE_ROOT"/}" "$lines"
        tail -n "$lines" "$file"
    done
}

cmd_clean() {
    bash "$KOMMUNE_DEPLOY_DIR/infra.sh" verify-stopped
    bash "$KOMMUNE_DEPLOY_DIR/services.sh" verify-stopped
    bash "$KOMMUNE_DEPLOY_DIR/postgres.sh" purge # also a cluster outside the repo (postgres.location)
    log "deleting $KOMMUNE_RUN_DIR"
    rm -rf "$KOMMUNE_RUN_DIR"
}

case ${1:-} in
install) cmd_install ;;
test) shift && cmd_test "$@" ;;
bench) cmd_bench ;;
logs) shift && cmd_logs "$@" ;;
clean) cmd_clean ;;
*)
    echo "usage: $0 {install|test [PYTEST ARGS]|bench|logs [LINES]|clean}" >&2
    exit 2
    ;;
esac
