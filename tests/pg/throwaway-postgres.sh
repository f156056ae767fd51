#!/bin/sh
# Starts a throwaway PostgreSQL server for trying Geodesy's shared store by hand:
# initdb into a temp folder, listen on 127.0.0.1:PORT with password (SCRAM) login, create user and
# database 'geodesy', print the store URI, and stop + delete everything on Ctrl-C.
# Needs Debian's server package: apt-get install -y postgresql. As root, the server runs as 'postgres'.
#   tests/pg/throwaway-postgres.sh [PORT] [PASSWORD]
set -eu
port=${1:-55432}
password=${2:-geodesy}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: apt-get install -y postgresql" >&2
    exit 1
fi
root=$(mktemp -d /tmp/geodesy-pg-manual.XXXXXX)
# setpriv execs in place, so the background job below is postgres itself and gets our signals.
as_server=
printf '%s\n' "$password" > "$root/pwfile"
if [ "$(id -u)" = 0 ]; then
    chown -R postgres:postgres "$root"
    as_server="setpriv --reuid=postgres --regid=postgres --clear-groups --"
fi
cd "$root"
$as_server "$bin/initdb" -D "$root/data" -U geodesy --pwfile="$root/pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --no-locale --no-sync > "$root/initdb.log"
$as_server "$bin/postgres" -D "$root/data" -p "$port" -k "$root" -c listen_addresses=127.0.0.1 \
    > "$root/server.log" 2>&1 &
pid=$!
stop() { kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$root"; }
trap 'stop; exit 0' INT TERM
until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; do
    if ! kill -0 "$pid" 2>/dev/null; then cat "$root/server.log" >&2; rm -rf "$root"; exit 1; fi
    sleep 0.1
done
PGPASSWORD=$password "$bin/createdb" -h 127.0.0.1 -p "$port" -U geodesy geodesy
echo "store: postgres://geodesy:$password@127.0.0.1:$port/geodesy   (Ctrl-C stops and deletes it)"
wait "$pid"
