# Throwaway Redis and PostgreSQL servers for Keyward's tests, on free loopback ports, with
# all their data in one temporary folder.
#
#   source tests/peers/servers.sh start   # start both; exports KEYWARD_TEST_REDIS_URL,
#                                         # KEYWARD_TEST_DATABASE_URL, KEYWARD_SERVERS_DIR
#   source tests/peers/servers.sh stop    # stop both and delete their folder
#   eval "$(bash tests/peers/servers.sh start)"   # the same without sourcing
#
# Needs redis-server (Debian: redis-server) and PostgreSQL's initdb/pg_ctl (Debian:
# postgresql; the binaries are found under /usr/lib/postgresql/*/bin). As root, PostgreSQL
# runs as the `postgres` user (or `nobody`), since it refuses to run as root.
# This file is meant to be sourced: it sets no shell options and only defines keyward_*
# functions and variables.

keyward_log() { printf 'servers.sh: %s\n' "$*" >&2; }

# A port on 127.0.0.1 nothing listens on (checked, then the server's own readiness check
# confirms it bound it).
keyward_free_port() {
    local port i
    for i in $(seq 1 200); do
        port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    keyward_log "no free port found"
    return 1
}

keyward_pg_bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
        pg_config --bindir; return 0
    fi
    if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return 0; fi
    keyward_log "PostgreSQL's initdb not found (install Debian's postgresql)"
    return 1
}

# Runs a PostgreSQL binary as the non-root owner of the cluster when we are root.
keyward_pg_as() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$KEYWARD_PG_OSUSER" -- "$@"
    else
        "$@"
    fi
}

keyward_start_redis() {
    local dir=$1 port try
    if ! command -v redis-server >/dev/null 2>&1; then
        keyward_log "redis-server not found (install Debian's redis-server)"
        return 1
    fi
    for try in 1 2 3; do
        port=$(keyward_free_port) || return 1
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
            --dir "$dir" >/dev/null || { keyward_log "redis-server failed to start"; continue; }
        local i
        for i in $(seq 1 100); do
            if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
                export KEYWARD_TEST_REDIS_URL="redis://127.0.0.1:$port"
                echo "$port" >"$dir/redis.port"
                keyward_log "Redis ready on 127.0.0.1:$port"
                return 0
            fi
            sleep 0.1
        done
        keyward_log "Redis did not answer on port $port (attempt $try); log:"
        tail -n 20 "$dir/redis.log" >&2 2>/dev/null
        [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null
    done
    return 1
}

keyward_start_postgres() {
    local dir=$1 bin port try pgdata
    pgdata="$dir/pg"
    bin=$(keyward_pg_bindir) || return 1
    KEYWARD_PG_OSUSER=$(id -un)
    if [ "$(id -u)" = 0 ]; then
        if getent passwd postgres >/dev/null; then KEYWARD_PG_OSUSER=postgres; else KEYWARD_PG_OSUSER=nobody; fi
        chown "$KEYWARD_PG_OSUSER" "$dir"
    fi
    export KEYWARD_PG_OSUSER KEYWARD_PG_BIN="$bin"
    mkdir -p "$pgdata" && chmod 700 "$pgdata"
    [ "$(id -u)" = 0 ] && chown "$KEYWARD_PG_OSUSER" "$pgdata"
    if ! keyward_pg_as "$bin/initdb" -D "$pgdata" -U keyward -A trust -E UTF8 --no-locale \
        >"$dir/initdb.log" 2>&1; then
        keyward_log "initdb failed:"; tail -n 20 "$dir/initdb.log" >&2
        return 1
    fi
    for try in 1 2 3; do
        port=$(keyward_free_port) || return 1
        if keyward_pg_as "$bin/pg_ctl" -D "$pgdata" -l "$dir/postgres.log" -w -t 60 \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
            start >/dev/null 2>&1 \
            && keyward_pg_as "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 30; then
            if ! "$bin/createdb" -h 127.0.0.1 -p "$port" -U keyward keyward_test 2>"$dir/createdb.log"; then
                keyward_log "createdb failed:"; cat "$dir/createdb.log" >&2
                return 1
            fi
            export KEYWARD_TEST_DATABASE_URL="postgres://keyward@127.0.0.1:$port/keyward_test"
            keyward_log "PostgreSQL ready on 127.0.0.1:$port"
            return 0
        fi
        keyward_log "PostgreSQL did not start on port $port (attempt $try); log:"
        tail -n 20 "$dir/postgres.log" >&2 2>/dev/null
        keyward_pg_as "$bin/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1
    done
    return 1
}

keyward_servers_stop() {
    local dir=${KEYWARD_SERVERS_DIR:-}
    [ -n "$dir" ] && [ -d "$dir" ] || return 0
    if [ -f "$dir/redis.pid" ]; then
        kill "$(cat "$dir/redis.pid")" 2>/dev/null || keyward_log "Redis was not running"
    fi
    if [ -f "$dir/pg/postmaster.pid" ] && [ -n "${KEYWARD_PG_BIN:-}" ]; then
        keyward_pg_as "$KEYWARD_PG_BIN/pg_ctl" -D "$dir/pg" -m fast -w stop >/dev/null 2>&1 \
            || keyward_log "pg_ctl stop failed"
    fi
    rm -rf "$dir" || true
    unset KEYWARD_SERVERS_DIR KEYWARD_TEST_REDIS_URL KEYWARD_TEST_DATABASE_URL
    keyward_log "servers stopped"
}

keyward_servers_start() {
    if [ -n "${KEYWARD_SERVERS_DIR:-}" ] && [ -d "$KEYWARD_SERVERS_DIR" ]; then
        keyward_log "already started in $KEYWARD_SERVERS_DIR (stop first)"
        return 0
    fi
    KEYWARD_SERVERS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/keyward-servers.XXXXXX") || return 1
    chmod 755 "$KEYWARD_SERVERS_DIR"
    export KEYWARD_SERVERS_DIR
    if keyward_start_redis "$KEYWARD_SERVERS_DIR" && keyward_start_postgres "$KEYWARD_SERVERS_DIR"; then
        return 0
    fi
    keyward_log "FAILED to start the test servers"
    keyward_servers_stop
    return 1
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # Sourced.
    case "${1:-}" in
        start) keyward_servers_start ;;
        stop) keyward_servers_stop ;;
        "") ;;
        *) keyward_log "usage: source tests/peers/servers.sh start|stop"; false ;;
    esac
else
    # Executed: print the exports for `eval`.
    case "${1:-}" in
        start)
            keyward_servers_start || exit 1
            printf 'export KEYWARD_SERVERS_DIR=%q KEYWARD_PG_OSUSER=%q KEYWARD_PG_BIN=%q\n' \
                "$KEYWARD_SERVERS_DIR" "$KEYWARD_PG_OSUSER" "$KEYWARD_PG_BIN"
            printf 'export KEYWARD_TEST_REDIS_URL=%q KEYWARD_TEST_DATABASE_URL=%q\n' \
                "$KEYWARD_TEST_REDIS_URL" "$KEYWARD_TEST_DATABASE_URL"
            ;;
        stop) keyward_servers_stop ;;
        *) keyward_log "usage: eval \"\$(bash tests/peers/servers.sh start)\"; bash tests/peers/servers.sh stop (with KEYWARD_SERVERS_DIR set)"; exit 2 ;;
    esac
fi
