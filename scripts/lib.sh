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

# Installs Chromium and its WebDriver (chromedriver) from Debian's packages when either is missing: the
# dashboard's browser tests (tests/dashboard/) drive them.
ensure_chromium() {
    command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && return
    echo "chromium or chromedriver not found: installing them from Debian's packages" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
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

# Starts a throwaway Redis Cluster of three primaries (no replicas, no persistence) on free loopback ports,
# their files in folder $1, and waits until the cluster says cluster_state:ok. Sets the variable named $2 to
# the nodes' ports, space-separated. Stop it with stop_redis_cluster "PORTS".
start_redis_cluster() {
    local dir=$1 ports="" port bus nodes=""
    for _ in 1 2 3; do
        free_port port
        free_port bus
        mkdir -p "$dir/$port"
        redis-server --port "$port" --cluster-port "$bus" --bind 127.0.0.1 --save '' --appendonly no \
            --cluster-enabled yes --cluster-config-file "$dir/$port/nodes.conf" --cluster-node-timeout 5000 \
            --daemonize yes --dir "$dir/$port" --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log"
        ports="$ports $port"
        nodes="$nodes 127.0.0.1:$port"
    done
    ports=${ports# }
    printf -v "$2" '%s' "$ports"
    for port in $ports; do
        for _ in $(seq 1 50); do
            redis-cli -p "$port" ping >/dev/null 2>&1 && break
            sleep 0.1
        done
    done
    # shellcheck disable=SC2086 # one argument per node
    if ! redis-cli --cluster create $nodes --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1; then
        echo "redis-cli --cluster create failed:" >&2
        cat "$dir/create.log" >&2
        return 1
    fi
    for port in $ports; do
        for _ in $(seq 1 100); do
            redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' && continue 2
            sleep 0.1
        done
        echo "the Redis Cluster did not reach cluster_state:ok (node $port)" >&2
        return 1
    done
}

# Stops the cluster nodes on the ports in $1 (space-separated).
stop_redis_cluster() {
    local port
    for port in $1; do
        redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    done
}
