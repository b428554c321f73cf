#!/bin/sh
# Backs up everything parley keeps, while it runs, into the directory given:
#   postgres.dump  the record of messages and files' records (pg_dump, consistent)
#   files.tar      the files' bytes on local disk (not with S3: use the bucket's own
#                  versioning or replication)
#   redis.rdb      accounts, logins, rooms, standing, each room's recent messages (a snapshot
#                  Redis makes for this copy: consistent, though its private server keeps
#                  snapshots off and writes an append-only file)
# In that order: a record without its file cannot happen, and a Redis newer than PostgreSQL
# is fine (the archiver copies again what it holds). Needs redis-cli and pg_dump.
#
#   REDIS_URL=redis://:password@127.0.0.1:6379 DATABASE_URL=postgres://… FILES_DIR=./data/files \
#     deploy/backup.sh /backups/parley-$(date +%F)
set -eu
out=${1:?usage: backup.sh <directory>}
: "${REDIS_URL:?set REDIS_URL}" "${DATABASE_URL:?set DATABASE_URL}"
mkdir -p "$out"
pg_dump --format=custom --file="$out/postgres.dump" "$DATABASE_URL"
if [ -n "${FILES_DIR:-}" ] && [ -d "$FILES_DIR" ]; then
  # Blobs are written once and renamed into place: a copy while parley runs is sound.
  tar -C "$FILES_DIR" --exclude=./spool -cf "$out/files.tar" .
fi
# redis-cli reads redis://:password@… as an empty user name: the default user it is.
url=$(printf %s "$REDIS_URL" | sed 's#^\(rediss*://\):#\1default:#')
redis-cli -u "$url" --no-auth-warning --rdb "$out/redis.rdb" >/dev/null
echo "backed up to $out"
