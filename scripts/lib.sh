# Shell functions shared by scripts/test and benches/load.sh (sourced, not run).

# Installs redis-server from Debian's packages when it is missing.
ensure_redis_server() {
    command -v redis-server >/dev/null 2>&1 && return
    echo "redis-server not found: installing it from Debian's packages" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
}

# Sets the variable named $1 to a free loopback port: one nothing answers on, and not one picked before by
# this script (a server started on an earlier pick may not be listening yet). The port lies below the kernel's
# range of ephemeral ports (usually from 32768): there, a client connection's port, or one in TIME_WAIT after
# a load test, fails a server's bind though nothing answers on it.
taken_ports=" "
free_port() {
    local candidate ephemeral
    ephemeral=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    [ "$ephemeral" -gt 12000 ] 2>/dev/null || ephemeral=32768
    for _ in $(seq 1 100); do
        candidate=$((10000 + RANDOM % (ephemeral - 10000)))
        case "$taken_ports" in *" $candidate "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
            taken_ports="$taken_ports$candidate "
            printf -v "$1" '%s' "$candidate"
            return
        fi
    done
    echo "no free port found" >&2
    return 1
}

# Waits (10 s at most) until something listens on loopback port $1; $2 says what, for the error.
wait_for_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
        sleep 0.1
    done
    echo "$2 did not start listening on port $1" >&2
    return 1
}

# Starts a throwaway redis-server (no persistence) on loopback port $1, its files in folder $2, and waits
# until it answers. Stop it with: redis-cli -p PORT shutdown nosave
start_redis() {
    redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --dir "$2" --pidfile "$2/redis.pid" --logfile "$2/redis.log"
    for _ in $(seq 1 50); do
        redis-cli -p "$1" ping >/dev/null 2>&1 && return
        sleep 0.1
    done
    echo "redis-server did not start:" >&2
    cat "$2/redis.log" >&2
    return 1
}
