#!/bin/sh
# One-shot MinIO setup for docker-compose.yml (runs in the minio/mc image; safe to rerun):
# the buckets, a service account with read/write access for the gateway and the functions, and the event that
# announces every object created in the inbox bucket to RabbitMQ (target PRIMARY, configured on the server by
# the MINIO_NOTIFY_AMQP_*_PRIMARY variables).
set -eu
: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${PVA_S3_ACCESS_KEY:?}" "${PVA_S3_SECRET_KEY:?}"
: "${PVA_BUCKET_ORIGINALS:?}" "${PVA_BUCKET_THUMBS:?}" "${PVA_BUCKET_INBOX:?}"
ARN=arn:minio:sqs::PRIMARY:amqp

mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
for b in "$PVA_BUCKET_ORIGINALS" "$PVA_BUCKET_THUMBS" "$PVA_BUCKET_INBOX"; do
  mc mb --ignore-existing "local/$b"
done

# service account: `admin user add` also resets the secret of an existing user to the one in .env
mc admin user add local "$PVA_S3_ACCESS_KEY" "$PVA_S3_SECRET_KEY"
mc admin policy attach local readwrite --user "$PVA_S3_ACCESS_KEY" 2>/dev/null \
  || echo "policy readwrite already attached to $PVA_S3_ACCESS_KEY"

# What the event's filter can and cannot say.  A MinIO (and S3) notification rule has at most one prefix and one
# suffix, both inclusive (minio internal/event/config.go FilterRuleList, matched as "<prefix>*<suffix>"); rules
# are ORed and none can exclude.  `mc event add --event put` subscribes s3:ObjectCreated:* (mc AddNotificationConfig;
# minio internal/event/name.go), which takes in ingest's CopyObject to rejected/ and its .reason.txt Put too.
# Drops sit under <username>/ with any file name, so "everything except rejected/ and *.reason.txt" has no rule:
# a prefix would have to name every user, a suffix every extension a camera writes (and its upper-case twin),
# and a file outside that list would never be announced.  So the rule takes every object created in the inbox,
# and ingest ignores keys under rejected/ and *.reason.txt (pva/services/inbox.py, pva/services/drops.py): each
# costs one message and one empty reply, never a file.  MinIO has no .uploads/ parts to hide: a multipart upload is
# announced once, as s3:ObjectCreated:CompleteMultipartUpload.  A drop whose event was lost (a wiped /events
# volume) is announced by the reconcile function's inbox sweep.
if mc event ls "local/$PVA_BUCKET_INBOX" "$ARN" 2>/dev/null | grep -q "$ARN"; then
  echo "event $ARN on $PVA_BUCKET_INBOX already set"
elif ! mc event add "local/$PVA_BUCKET_INBOX" "$ARN" --event put; then
  echo "could not add the bucket event: MinIO has no AMQP target PRIMARY (check the MINIO_NOTIFY_AMQP_*_PRIMARY" \
       "variables of the minio service and that RabbitMQ accepts its credentials)" >&2
  exit 1
fi
mc event ls "local/$PVA_BUCKET_INBOX"
echo "minio-setup: done"
