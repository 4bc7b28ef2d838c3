# shellcheck shell=bash
# deploy/native/lib.sh — shared settings and helpers for the native (no Docker) scripts.
# Sourced by deploy/native/{services,env,up,down,logs}; not meant to be run directly.
#
# Environment knobs (all optional):
#   SALES_STATE_DIR              state root (default: <repo>/.state)
#   SALES_KAFKA_PORT             Kafka client port       (default 9092)
#   SALES_KAFKA_CONTROLLER_PORT  KRaft controller port   (default 9093)
#   SALES_KAFKA_BROKERS          1 (default) or 3: a three-node KRaft cluster, replication
#                                factor 3, min.insync.replicas 2; node N (1-based) listens
#                                on SALES_KAFKA_PORT+2(N-1) and SALES_KAFKA_CONTROLLER_PORT+2(N-1);
#                                remembered in $STATE/kafka/brokers for later commands
#   SALES_PG_PORT                PostgreSQL port         (default 5432)
#   SALES_REDIS_PORT             Redis port              (default 6379)
#   SALES_KAFKA_VERSION          Kafka jars to use       (default 4.4.0)
#   XDG_CACHE_HOME               jar cache root          (default ~/.cache)
#   SALES_SECURE                 1: secured Kafka: only a SASL_SSL listener (SCRAM-SHA-512,
#                                certificates from a CA made under $STATE/secure),
#                                StandardAuthorizer, a user and ACLs per process, topics
#                                made by an admin step; remembered in $STATE/kafka/secure
#                                (docs/operations.md, "Secured Kafka")
#   SALES_LOG_MAX_MB             a log in $STATE/logs over this is rotated (default 50;
#                                deploy/native/logcap, started by `services up`)
#   SALES_LOG_KEEP               rotated copies kept per log (default 2)
#   SALES_LOG_CHECK_SECONDS      how often logcap looks (default 30)

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
STATE="${SALES_STATE_DIR:-$REPO/.state}"
SALES_KAFKA_PORT="${SALES_KAFKA_PORT:-9092}"
SALES_KAFKA_CONTROLLER_PORT="${SALES_KAFKA_CONTROLLER_PORT:-9093}"
SALES_PG_PORT="${SALES_PG_PORT:-5432}"
SALES_REDIS_PORT="${SALES_REDIS_PORT:-6379}"
SALES_KAFKA_VERSION="${SALES_KAFKA_VERSION:-4.4.0}"
# unset: as many brokers as this state's Kafka was started with (kafka/brokers), else 1
if [[ -z ${SALES_KAFKA_BROKERS:-} && -s $STATE/kafka/brokers ]]; then
    SALES_KAFKA_BROKERS="$(cat "$STATE/kafka/brokers")"
fi
SALES_KAFKA_BROKERS="${SALES_KAFKA_BROKERS:-1}"
# unset: as this state's Kafka was made (kafka/secure), else plaintext
if [[ -z ${SALES_SECURE:-} && -f $STATE/kafka/secure ]]; then
    SALES_SECURE=1
fi
[[ ${SALES_SECURE:-0} == 1 ]] && SALES_SECURE=1 || SALES_SECURE=0
# certificates, keys and the Kafka users' passwords of a secured stack (mode 700)
SECURE_DIR="$STATE/secure"
# the Kafka users of a secured stack: the admin (super user), one per process, the CLI's
SECURE_USERS=(admin gateway ingest reporter cli)
LOG_DIR="$STATE/logs"
RUN_DIR="$STATE/run"
# the access token deploy/native/up generates when none is configured
TOKEN_FILE="$STATE/access_token"
export REPO STATE LOG_DIR RUN_DIR TOKEN_FILE SALES_KAFKA_PORT SALES_KAFKA_CONTROLLER_PORT \
    SALES_PG_PORT SALES_REDIS_PORT SALES_KAFKA_VERSION SALES_KAFKA_BROKERS SALES_SECURE SECURE_DIR

case $SALES_KAFKA_BROKERS in
    1 | 3) ;;
    *) echo "SALES_KAFKA_BROKERS must be 1 or 3 (is $SALES_KAFKA_BROKERS)" >&2; exit 2 ;;
esac

# kafka_port N / kafka_controller_port N — where node N (1-based) of the cluster listens.
kafka_port() { echo $((SALES_KAFKA_PORT + 2 * ($1 - 1))); }
kafka_controller_port() { echo $((SALES_KAFKA_CONTROLLER_PORT + 2 * ($1 - 1))); }

# Where the native stack listens, as the service's settings name it.
NATIVE_KAFKA_BOOTSTRAP_SERVERS="$(for ((n = 1; n <= SALES_KAFKA_BROKERS; n++)); do
    printf '%s127.0.0.1:%s' "$( ((n > 1)) && echo ,)" "$(kafka_port "$n")"; done)"
# Topics the service creates are replicated to every broker (at most 3).
NATIVE_KAFKA_REPLICATION_FACTOR=$SALES_KAFKA_BROKERS
NATIVE_DATABASE_URL="postgresql://sales:sales@127.0.0.1:$SALES_PG_PORT/sales"
NATIVE_REDIS_URL="redis://127.0.0.1:$SALES_REDIS_PORT/0"

# log MESSAGE... — timestamped message on stderr (stdout stays clean for `env`).
log() {
    printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

die() {
    log "ERROR: $*"
    exit 1
}

# port_open HOST PORT — true when a TCP connect succeeds.
port_open() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# wait_for_port HOST PORT TIMEOUT_SECONDS [PIDFILE] — poll until the port accepts TCP.
# With PIDFILE, give up early when that process has died.
wait_for_port() {
    local host=$1 port=$2 timeout=$3 pidfile=${4:-}
    local deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        if port_open "$host" "$port"; then
            return 0
        fi
        if [[ -n $pidfile ]] && ! pid_alive "$pidfile"; then
            return 1
        fi
        sleep 0.5
    done
    return 1
}

# pid_alive PIDFILE — true when the file holds the pid of a running process.
pid_alive() {
    local pidfile=$1 pid
    [[ -f $pidfile ]] || return 1
    pid="$(head -n1 "$pidfile" 2>/dev/null | tr -dc '0-9')"
    [[ -n $pid ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # a zombie is not alive
    [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]]
}

# read_pid PIDFILE — print the pid in the file.
read_pid() {
    head -n1 "$1" 2>/dev/null | tr -dc '0-9'
}

# stop_pid PIDFILE NAME GRACE_SECONDS — TERM, wait, then KILL; removes the pid file.
stop_pid() {
    local pidfile=$1 name=$2 grace=$3 pid deadline
    if ! pid_alive "$pidfile"; then
        rm -f "$pidfile"
        return 0
    fi
    pid="$(read_pid "$pidfile")"
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + grace))
    while ((SECONDS < deadline)) && pid_alive "$pidfile"; do
        sleep 0.3
    done
    if pid_alive "$pidfile"; then
        log "$name did not stop within ${grace}s; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$pidfile"
}

# as_root CMD... — run a command as root (directly, or through sudo).
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# ensure_apt PKG... — apt-get install the packages that are not installed yet.
# Daemons are NOT started by the install (temporary policy-rc.d), so a freshly
# installed system redis/postgres does not grab the ports our own instances use.
ensure_apt() {
    local pkg missing=()
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    ((${#missing[@]})) || return 0
    log "installing with apt: ${missing[*]}"
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [[ ! -e $policy ]]; then
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        added_policy=1
    fi
    local rc=0
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"; then
        log "apt-get install failed; running apt-get update and retrying"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q || true
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" || rc=$?
    fi
    if ((added_policy)); then
        as_root rm -f "$policy"
    fi
    ((rc == 0)) || die "apt-get install ${missing[*]} failed"
}

# ensure_cmd COMMAND PKG — install PKG with apt when COMMAND is not on PATH.
ensure_cmd() {
    command -v "$1" >/dev/null 2>&1 || ensure_apt "$2"
}

# ensure_chromium — Debian's chromium for the dashboard's browser tests (tests/ui drive it
# with Playwright, which never downloads a browser of its own).
ensure_chromium() {
    ensure_apt chromium
}

# ensure_venv — create $REPO/.venv and `pip install -e "${REPO}[test]"` when the venv
# is missing or pyproject.toml is newer than the stamp file inside it.
ensure_venv() {
    local venv="$REPO/.venv" stamp="$REPO/.venv/.sales-analyzer-installed" py=""
    if [[ -x $venv/bin/python && -f $stamp && ! $REPO/pyproject.toml -nt $stamp ]]; then
        return 0
    fi
    if [[ ! -x $venv/bin/python ]]; then
        if command -v python3.11 >/dev/null 2>&1 && python3.11 -V >/dev/null 2>&1; then
            py=python3.11
        else
            ensure_cmd python3 python3
            py=python3
        fi
        log "creating $venv with $py ($($py -V 2>&1))"
        if ! "$py" -m venv "$venv" 2>/dev/null; then
            rm -rf "$venv"
            ensure_apt python3-venv
            "$py" -m venv "$venv"
        fi
        "$venv/bin/python" -m pip install -q --upgrade pip
    fi
    log "installing the project into $venv (pip install -e '.[test]')"
    "$venv/bin/python" -m pip install -q -e "${REPO}[test]"
    touch "$stamp"
}

# print_env [WHO] — the environment the service reads, as `export` lines. On a secured
# stack, WHO (gateway, ingest, reporter, cli (default) or admin) picks the Kafka user.
print_env() {
    printf 'export KAFKA_BOOTSTRAP_SERVERS=%s\n' "$NATIVE_KAFKA_BOOTSTRAP_SERVERS"
    if ((SALES_KAFKA_BROKERS > 1)); then
        printf 'export KAFKA_REPLICATION_FACTOR=%s\n' "$NATIVE_KAFKA_REPLICATION_FACTOR"
    fi
    printf 'export DATABASE_URL=%s\n' "$NATIVE_DATABASE_URL"
    printf 'export REDIS_URL=%s\n' "$NATIVE_REDIS_URL"
    if ((SALES_SECURE)); then
        print_kafka_security "${1:-cli}"
    fi
}

# print_kafka_security WHO — the Kafka security settings of user WHO on the secured stack
# (the password as a file: it is never printed).
print_kafka_security() {
    local who=$1 known=0 u
    for u in "${SECURE_USERS[@]}"; do [[ $u == "$who" ]] && known=1; done
    ((known)) || die "no Kafka user '$who' (one of: ${SECURE_USERS[*]})"
    printf 'export KAFKA_SECURITY_PROTOCOL=SASL_SSL\n'
    printf 'export KAFKA_SASL_MECHANISM=SCRAM-SHA-512\n'
    printf 'export KAFKA_SASL_USERNAME=%s\n' "$who"
    printf 'export KAFKA_SASL_PASSWORD_FILE=%s\n' "$SECURE_DIR/passwords/$who"
    printf 'export KAFKA_SSL_CAFILE=%s\n' "$SECURE_DIR/ca.pem"
    # the brokers require a client certificate from the CA as well (mTLS)
    printf 'export KAFKA_SSL_CERTFILE=%s\n' "$SECURE_DIR/$who.pem"
    printf 'export KAFKA_SSL_KEYFILE=%s\n' "$SECURE_DIR/$who.key"
    # only the admin step creates topics on a secured cluster
    if [[ $who != admin ]]; then
        printf 'export KAFKA_CREATE_TOPICS=false\n'
    fi
}

# The token's sources, in the order deploy/native/up (and deploy/native/env) use them:
# the environment, then .env, then the generated $TOKEN_FILE.
token_in_environment() {
    [[ -n ${ACCESS_TOKEN:-} || -n ${ACCESS_TOKENS:-} ]]
}
token_in_dotenv() {
    [[ -f $REPO/.env ]] && grep -Eq '^[[:space:]]*(export[[:space:]]+)?ACCESS_TOKENS?[[:space:]]*=' "$REPO/.env"
}
