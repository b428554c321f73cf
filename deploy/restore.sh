#!/bin/sh
# Restores what backup.sh made, with parley stopped, into:
#   REDIS_DIR     the data directory of the redis-server parley will use (for the private
#                 one: PARLEY_DATA_DIR/redis); what it held is replaced
#   DATABASE_URL  an empty database, or parley's (its tables are replaced)
#   FILES_DIR     where files live on local disk
# Redis loads an append-only file when one is on (as the private server's is), never a
# snapshot beside it: the snapshot is loaded by a redis-server started for the purpose, which
# then writes its append-only file. Needs redis-server, redis-cli and pg_restore.
#
#   REDIS_DIR=./data/redis DATABASE_URL=postgres://… FILES_DIR=./data/files \
#     deploy/restore.sh /backups/parley-2026-12-08
set -eu
from=${1:?usage: restore.sh <directory made by backup.sh>}
: "${REDIS_DIR:?set REDIS_DIR}" "${DATABASE_URL:?set DATABASE_URL}"

pg_restore --clean --if-exists --no-owner --dbname="$DATABASE_URL" "$from/postgres.dump"

if [ -f "$from/files.tar" ]; then
  : "${FILES_DIR:?set FILES_DIR (the backup holds files)}"
  mkdir -p "$FILES_DIR"
  tar -C "$FILES_DIR" -xf "$from/files.tar"
fi

mkdir -p "$REDIS_DIR"
rm -rf "$REDIS_DIR/appendonlydir" "$REDIS_DIR/dump.rdb"
cp "$from/redis.rdb" "$REDIS_DIR/dump.rdb"
port=${RESTORE_PORT:-6399}
redis-server --port "$port" --bind 127.0.0.1 --dir "$REDIS_DIR" --dbfilename dump.rdb \
  --appendonly no --save "" --daemonize no --loglevel warning >/dev/null &
pid=$!
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
# The loaded data becomes the append-only file the server will start from.
redis-cli -p "$port" config set appendonly yes >/dev/null
until [ "$(redis-cli -p "$port" info persistence | grep -c '^aof_rewrite_in_progress:0')" = 1 ] &&
  [ "$(redis-cli -p "$port" info persistence | grep -c '^aof_rewrite_scheduled:0')" = 1 ] &&
  [ -d "$REDIS_DIR/appendonlydir" ]; do sleep 0.1; done
redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
wait "$pid" || true
rm -f "$REDIS_DIR/dump.rdb"
echo "restored from $from"
