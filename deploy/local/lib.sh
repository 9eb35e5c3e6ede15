# shellcheck shell=bash disable=SC2034
# Shared helpers of the local runtime scripts (deploy/local/*.sh). Sourced, never executed.
#
# Everything the local runtime creates lives under "$KOMMUNE_RUN_DIR" (<repo>/.run, git-ignored),
# except a PostgreSQL data directory that the `postgres` OS user could not reach there (see postgres.sh).

# ---- locations ---------------------------------------------------------------------------------
KOMMUNE_DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
KOMMUNE_ROOT="$(cd "$KOMMUNE_DEPLOY_DIR/../.." && pwd -P)"
KOMMUNE_RUN_DIR="$KOMMUNE_ROOT/.run"
KOMMUNE_LOG_DIR="$KOMMUNE_RUN_DIR/logs"
KOMMUNE_PID_DIR="$KOMMUNE_RUN_DIR/pids"

# ---- local ports (all on 127.0.0.1; see docs/operations.md) -----------------------------------
# The defaults are the platform's contract (the test fixtures assume them); the variables exist
# only to run a second checkout's servers side by side. Ports stay below the kernel's ephemeral
# range (32768-60999): a client retrying a stopped server there can connect to itself and hold
# the port, and the server then cannot bind it again.
KOMMUNE_HOST=127.0.0.1
KOMMUNE_PG_PORT=${KOMMUNE_PG_PORT:-15432}
KOMMUNE_KAFKA_PORT=${KOMMUNE_KAFKA_PORT:-19092}
KOMMUNE_KAFKA_CONTROLLER_PORT=${KOMMUNE_KAFKA_CONTROLLER_PORT:-19093}
# Keycloak (opt-in: KOMMUNE_KEYCLOAK=1 make up; the Keycloak tests start it on demand)
KOMMUNE_KEYCLOAK_PORT=${KOMMUNE_KEYCLOAK_PORT:-18080}
KOMMUNE_PG_USER=kommune
KOMMUNE_PG_PASSWORD=kommune

KOMMUNE_LOCAL_DATABASE_URL="postgresql://$KOMMUNE_PG_USER:$KOMMUNE_PG_PASSWORD@$KOMMUNE_HOST:$KOMMUNE_PG_PORT/postgres"
KOMMUNE_LOCAL_KAFKA_BOOTSTRAP="$KOMMUNE_HOST:$KOMMUNE_KAFKA_PORT"
KOMMUNE_LOCAL_KEYCLOAK_URL="http://$KOMMUNE_HOST:$KOMMUNE_KEYCLOAK_PORT"
# KOMMUNE_KEYCLOAK=1: `make up`/`make infra` also start Keycloak and the services trust its realm.
keycloak_opted_in() { [[ ${KOMMUNE_KEYCLOAK:-0} == 1 ]]; }

# ---- output ------------------------------------------------------------------------------------
log() { printf '[%s] %s\n' "${KOMMUNE_COMPONENT:-kommune}" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "${KOMMUNE_COMPONENT:-kommune}" "$*" >&2; }
die() {
    printf '[%s] ERROR: %s\n' "${KOMMUNE_COMPONENT:-kommune}" "$*" >&2
    exit 1
}

# Print the last lines of a log file to stderr, framed, for failure messages.
show_log_tail() { # file [lines]
    local file=$1 lines=${2:-40}
    if [[ -r $file ]]; then
        printf -- '----- last %s lines of %s -----\n' "$lines" "$file" >&2
        tail -n "$lines" "$file" >&2
        printf -- '----- end of %s -----\n' "$file" >&2
    else
        printf -- '(no log file at %s)\n' "$file" >&2
    fi
}

# ---- effective endpoints (environment overrides win) -------------------------------------------
# DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS point the whole platform at servers run elsewhere; the
# local servers are then not started (infra.sh) and every URL below is derived from them.
external_database() { [[ -n ${DATABASE_URL:-} ]]; }
external_kafka() { [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]]; }

# libpq-style URL of the server's maintenance database (no SQLAlchemy driver suffix).
effective_database_url() {
    if external_database; then
        database_url_for "$DATABASE_URL" "" postgresql
    else
        printf '%s\n' "$KOMMUNE_LOCAL_DATABASE_URL"
    fi
}

effective_kafka_bootstrap() {
    printf '%s\n' "${KAFKA_BOOTSTRAP_SERVERS:-$KOMMUNE_LOCAL_KAFKA_BOOTSTRAP}"
}

# database_url_for URL DBNAME SCHEME: same server and credentials as URL, database DBNAME (empty:
# keep URL's database), scheme SCHEME (postgresql or postgresql+asyncpg). Query string is kept.
database_url_for() {
    local url=$1 db=$2 scheme=$3
    local re='^postgres(ql)?(\+[A-Za-z0-9_]+)?://([^/?]*)(/[^?]*)?(\?.*)?$'
    [[ $url =~ $re ]] || die "cannot parse database URL (expected postgresql://user:pass@host:port/db): $url"
    local authority=${BASH_REMATCH[3]} path=${BASH_REMATCH[4]} query=${BASH_REMATCH[5]}
    [[ -n $db ]] && path="/$db"
    printf '%s://%s%s%s\n' "$scheme" "$authority" "$path" "$query"
}

# ---- processes and ports -----------------------------------------------------------------------
# True when something accepts TCP connections on 127.0.0.1:PORT (no external tools needed).
port_open() { # port
    (exec 3<>"/dev/tcp/$KOMMUNE_HOST/$1") 2>/dev/null
}

# A live process (a zombie that waits to be reaped does not count).
pid_alive() { # pid
    local stat
    [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null || return 1
    stat=$(<"/proc/$1/stat") 2>/dev/null || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

read_pid() { # pidfile -> prints pid if the file holds a live pid
    local pid
    [[ -r $1 ]] || return 1
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] && pid_alive "$pid" && printf '%s\n' "$pid"
}

# Any live (non-zombie) process left in process group PGID?
group_alive() { # pgid
    ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

# Stop a process group started with setsid (its leader's pid is the group id): SIGTERM, wait up
# to TIMEOUT seconds for every member to exit, then SIGKILL the group and wait again.
# SIGTERM goes to the leader only while it lives: `uv run` forwards it to its child, and a second
# copy sent to the whole group would make uvicorn skip its graceful shutdown.
stop_process_group() { # pgid name timeout
    local pgid=$1 name=$2 timeout=${3:-30} i group_signalled=
    group_alive "$pgid" || return 0
    if pid_alive "$pgid"; then
        kill -TERM "$pgid" 2>/dev/null || true
    else
        kill -TERM -- "-$pgid" 2>/dev/null || true
        group_signalled=1
    fi
    for ((i = 0; i < timeout * 10; i++)); do
        group_alive "$pgid" || return 0
        # The leader is gone but members are left (it was killed hard): signal them directly.
        if [[ -z $group_signalled ]] && ! pid_alive "$pgid"; then
            kill -TERM -- "-$pgid" 2>/dev/null || true
            group_signalled=1
        fi
        sleep 0.1
    done
    warn "$name (process group $pgid) ignored SIGTERM for ${timeout}s; sending SIGKILL"
    kill -KILL -- "-$pgid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        group_alive "$pgid" || return 0
        sleep 0.1
    done
    die "$name (process group $pgid) is still alive after SIGKILL"
}

# HTTP status code of a GET (000 when nothing answers). curl if present, else python3.
# Java 17 or newer (Debian's openjdk-17-jre-headless if none): Kafka 4 and Keycloak 26 need it.
ensure_java17() { # what needs it (for the message)
    ensure_command java openjdk-17-jre-headless
    local version major
    version=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')
    major=${version%%.*}
    [[ $major =~ ^[0-9]+$ && $major -ge 17 ]] ||
        die "$1 needs Java 17 or newer; 'java' is version ${version:-unknown} (Debian: apt-get install openjdk-17-jre-headless)"
}

# Stop a local server started with setsid (each pid leads its own process group): the group
# gets SIGTERM, then SIGKILL after the timeout; then wait for its port to close. Removes the pid
# file; "not running" when there is no pid.
stop_server() { # name port pidfile timeout pids...
    local name=$1 port=$2 pid_file=$3 timeout=$4 pid i
    shift 4
    if (($# == 0)); then
        rm -f "$pid_file"
        log "not running"
        return 0
    fi
    for pid in "$@"; do
        pid_alive "$pid" || continue # e.g. the java child of a launcher that stopped just before
        log "stopping (pid $pid)"
        if group_alive "$pid"; then
            stop_process_group "$pid" "$name" "$timeout"
        fi
        if pid_alive "$pid"; then
            kill -TERM "$pid" 2>/dev/null || true
            for ((i = 0; i < timeout * 10; i++)); do pid_alive "$pid" || break; sleep 0.1; done
            pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
        fi
    done
    rm -f "$pid_file"
    for ((i = 0; i < 50; i++)); do port_open "$port" || break; sleep 0.1; done
    port_open "$port" && die "port $port still open after stopping the $name"
    log "stopped"
}

http_status() { # url
    if command -v curl >/dev/null 2>&1; then
        curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true
    else
        python3 - "$1" <<'PY' 2>/dev/null || printf '000'
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        print(r.status, end="")
except urllib.error.HTTPError as e:
    print(e.code, end="")
except Exception:
    print("000", end="")
PY
    fi
}

# Serialise start/stop of a component across concurrent callers (parallel test sessions call
# `kafka.sh start` at once). The lock is file descriptor 9, held until the script exits: every
# long-running child must be started with `9>&-`, or it would hold the lock for its whole life.
take_lock() { # name
    command -v flock >/dev/null 2>&1 || return 0
    exec 9>"$KOMMUNE_RUN_DIR/.$1.lock"
    if ! flock -n 9; then
        log "waiting for another '$1' start/stop to finish"
        flock -w "${KOMMUNE_LOCK_TIMEOUT:-600}" 9 || die "timed out waiting for $KOMMUNE_RUN_DIR/.$1.lock"
    fi
}

# ---- packages (fresh Debian machines / CI) -----------------------------------------------------
is_root() { [[ $(id -u) -eq 0 ]]; }

deb_installed() { # package
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

_KOMMUNE_APT_UPDATED=
apt_install() { # packages...
    export DEBIAN_FRONTEND=noninteractive
    if [[ -z $_KOMMUNE_APT_UPDATED ]]; then
        log "apt-get update"
        apt-get update -qq >/dev/null || die "apt-get update failed"
        _KOMMUNE_APT_UPDATED=1
    fi
    log "apt-get install $*"
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null || die "apt-get install $* failed"
}

# Install the Debian packages that are missing. Only as root on a Debian-like machine; otherwise
# fail with the command the user should run. Installing postgresql-15 normally creates and starts a
# system cluster on port 5432: we switch that off first (as the official postgres image does),
# because the platform runs its own cluster.
ensure_debian_packages() { # packages...
    local missing=() p
    for p in "$@"; do deb_installed "$p" || missing+=("$p"); done
    ((${#missing[@]})) || return 0
    if ! is_root || ! command -v apt-get >/dev/null 2>&1; then
        die "missing packages: ${missing[*]} — install them (Debian: sudo apt-get install -y ${missing[*]})"
    fi
    if [[ " ${missing[*]} " == *" postgresql-15 "* ]] && ! deb_installed postgresql-common; then
        apt_install postgresql-common
        sed -ri 's/^#?\s*create_main_cluster\s*=.*/create_main_cluster = false/' \
            /etc/postgresql-common/createcluster.conf
    fi
    apt_install "${missing[@]}"
}

# Make sure a command exists, installing its Debian package when we can.
ensure_command() { # command package
    command -v "$1" >/dev/null 2>&1 && return 0
    if is_root && command -v apt-get >/dev/null 2>&1; then
        ensure_debian_packages "$2"
        hash -r
        command -v "$1" >/dev/null 2>&1 || die "'$1' still missing after installing $2"
    else
        die "'$1' not found — install it (Debian: sudo apt-get install -y $2)"
    fi
}

# uv: on PATH, or the PyPI package run as a module (a pip --user install may not be on PATH).
# Sets the array UV to the command to run.
resolve_uv() {
    if command -v uv >/dev/null 2>&1; then
        UV=(uv)
    elif python3 -c 'import uv' >/dev/null 2>&1; then
        UV=(python3 -m uv)
    else
        die "uv not found — run 'make install' (it installs uv from PyPI)"
    fi
}

# Escape a string for use inside an extended regular expression (pgrep -f patterns).
regex_escape() { printf '%s' "$1" | sed 's/[][\\.*^$+?(){}|]/\\&/g'; }

mkdir -p "$KOMMUNE_RUN_DIR"

# Tesseract with its German model and poppler's pdftoppm: the documents service OCRs image-only
# scans with them (docs/adr/0020-documents-ocr.md); its tests render German scans in DejaVu Sans.
# Installed when missing (as root on Debian); otherwise a clear error with the command to run.
OCR_DEBIAN_PACKAGES=(tesseract-ocr tesseract-ocr-deu poppler-utils fonts-dejavu-core)
ensure_ocr_tools() {
    if command -v tesseract >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1 &&
        tesseract --list-langs 2>/dev/null | grep -qx deu && deb_installed fonts-dejavu-core; then
        return 0
    fi
    if ! is_root || ! command -v apt-get >/dev/null 2>&1; then
        die "OCR tools missing (tesseract with German, pdftoppm) — install them (Debian: sudo apt-get install -y ${OCR_DEBIAN_PACKAGES[*]})"
    fi
    ensure_debian_packages "${OCR_DEBIAN_PACKAGES[@]}"
    hash -r
    tesseract --list-langs 2>/dev/null | grep -qx deu ||
        die "tesseract has no German model after installing ${OCR_DEBIAN_PACKAGES[*]}"
}
