#!/usr/bin/env bash
# Load test in one command: builds afterhours and the load driver (release), starts redis-server (installed
# from Debian when missing), the fake case system, afterhours serve on that Redis, a second afterhours serve on
# the embedded store (for the `replay` phase) and the ceiling (a bare axum handler), each on a free loopback
# port; imports the shipped rotation; runs the driver; prints its report (Markdown) on stdout; and stops
# everything it started. Extra arguments go to `afterhours-load run` (see
# `target/release/afterhours-load run --help`), e.g. `benches/load.sh --calls 2000 --seconds 8` or
# `benches/load.sh --phases replay` or `benches/load.sh --phases slow`.
#
# Environment: CASE_DELAY_MS (the fake case system's delay, default 5), LOAD_LOG (afterhours' log filter,
# default warn), LOAD_PERF (a file: profile the server with `perf record -g` into it), LOAD_SERVER_BIN (an
# `afterhours` binary to measure instead of the one just built, e.g. a copy of another commit's build, to
# compare two builds in one sitting), LOAD_PROVIDER (the provider the driver plays and the server takes:
# twilio, the default, signalwire, telnyx or plivo), LOAD_CONFIG_DIR (the folder of afterhours.toml and
# oncall.toml, default config: another build may need the configuration of its own commit, with its
# voice-flows folder beside it).
set -euo pipefail
cd "$(dirname "$0")/.."

case_delay_ms=${CASE_DELAY_MS:-5}

echo "building (release)" >&2
cargo build --release --quiet --bin afterhours --bin afterhours-load
bin=target/release
server_bin=${LOAD_SERVER_BIN:-$bin/afterhours}

source scripts/lib.sh
ensure_redis_server

workdir=$(mktemp -d)
pids=()
free_port redis_port
stop_all() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$workdir"
}
trap stop_all EXIT

start_redis "$redis_port" "$workdir"

free_port cases_port
"$bin/afterhours-load" cases --listen "127.0.0.1:$cases_port" --delay-ms "$case_delay_ms" 2>"$workdir/cases.log" &
pids+=($!)
free_port ceiling_port
"$bin/afterhours-load" ceiling --listen "127.0.0.1:$ceiling_port" 2>"$workdir/ceiling.log" &
ceiling_pid=$!
pids+=($ceiling_pid)

free_port server_port
free_port ops_port
config_dir=${LOAD_CONFIG_DIR:-config}
export AFTERHOURS_CONFIG=$config_dir/afterhours.toml
export AFTERHOURS_PROVIDER__AUTH_TOKEN=load-test-token
export AFTERHOURS_REDIS__URL="redis://127.0.0.1:$redis_port"
export AFTERHOURS_SERVER__LISTEN="127.0.0.1:$server_port"
export AFTERHOURS_SERVER__OPS_LISTEN="127.0.0.1:$ops_port"
export AFTERHOURS_SERVER__PUBLIC_URL="http://127.0.0.1:$server_port"
export AFTERHOURS_CASES__BASE_URL="http://127.0.0.1:$cases_port"
# The night path whatever the time of day.
export AFTERHOURS_LINES__US__MODE=always-after-hours
# The driver's callers are on no case: the line takes any caller, as a line without registration does.
export AFTERHOURS_LINES__US__REQUIRE_REGISTERED_CALLER=false
export AFTERHOURS_LOG=${LOAD_LOG:-warn}
# The provider: the server takes its webhooks, the driver plays it (Telnyx: with a key of the test's own).
provider=${LOAD_PROVIDER:-twilio}
telnyx_seed=0707070707070707070707070707070707070707070707070707070707070707
export AFTERHOURS_PROVIDER__KIND="$provider"
case "$provider" in
    telnyx)
        AFTERHOURS_PROVIDER__PUBLIC_KEY=$("$bin/afterhours" sign --provider telnyx --seed "$telnyx_seed" \
            --url http://127.0.0.1/ | sed -n 's/^public key (provider.public_key): //p')
        export AFTERHOURS_PROVIDER__PUBLIC_KEY
        ;;
    plivo) export AFTERHOURS_PROVIDER__VOICE=WOMAN ;;
esac

"$server_bin" rotation import "$config_dir/oncall.toml" >/dev/null
if [ -n "${LOAD_PERF:-}" ]; then
    # Profiling: the server runs under `perf record`, written to $LOAD_PERF (see docs/performance.md).
    perf record -F 999 --call-graph dwarf,16384 -o "$LOAD_PERF" -- "$server_bin" serve 2>"$workdir/server.log" &
else
    "$server_bin" serve 2>"$workdir/server.log" &
fi
server_pid=$!
pids+=($server_pid)
# The same server on the embedded store (no Redis): the `replay` phase measures both.
free_port embedded_port
free_port embedded_ops_port
env -u AFTERHOURS_REDIS__URL AFTERHOURS_SERVER__LISTEN="127.0.0.1:$embedded_port" \
    AFTERHOURS_SERVER__OPS_LISTEN="127.0.0.1:$embedded_ops_port" \
    AFTERHOURS_SERVER__PUBLIC_URL="http://127.0.0.1:$embedded_port" \
    "$server_bin" serve 2>"$workdir/embedded.log" &
embedded_pid=$!
pids+=($embedded_pid)
wait_for_port "$cases_port" "the fake case system"
wait_for_port "$ceiling_port" "the ceiling"
wait_for_port "$server_port" "afterhours serve"
wait_for_port "$embedded_port" "afterhours serve on the embedded store"

# The driver's own open-file limit: the `slow` phase holds 2,000 sockets at once. Raised for the driver alone
# (up to the hard limit), so that the server runs under the limit it would have anyway; the report gives both.
driver_nofile=8192
hard_nofile=$(ulimit -Hn)
if [ "$hard_nofile" != unlimited ] && [ "$hard_nofile" -lt "$driver_nofile" ]; then
    driver_nofile=$hard_nofile
fi

status=0
(
    soft_nofile=$(ulimit -Sn)
    if [ "$soft_nofile" != unlimited ] && [ "$soft_nofile" -lt "$driver_nofile" ]; then
        ulimit -Sn "$driver_nofile"
    fi
    exec "$bin/afterhours-load" run \
        --server "http://127.0.0.1:$server_port" --server-pid "$server_pid" --ops "http://127.0.0.1:$ops_port" \
        --ceiling "http://127.0.0.1:$ceiling_port" --ceiling-pid "$ceiling_pid" \
        --redis "redis://127.0.0.1:$redis_port" --redis-pid "$(cat "$workdir/redis.pid")" \
        --embedded "http://127.0.0.1:$embedded_port" --embedded-pid "$embedded_pid" \
        --embedded-ops "http://127.0.0.1:$embedded_ops_port" \
        --cases "http://127.0.0.1:$cases_port" --case-delay-ms "$case_delay_ms" \
        --provider "$provider" --telnyx-seed "$telnyx_seed" "$@"
) || status=$?
if [ -s "$workdir/server.log" ]; then
    echo "afterhours logged (last 20 lines):" >&2
    tail -n 20 "$workdir/server.log" >&2
fi
if [ -s "$workdir/embedded.log" ]; then
    echo "afterhours on the embedded store logged (last 20 lines):" >&2
    tail -n 20 "$workdir/embedded.log" >&2
fi
exit "$status"
