#!/bin/bash
# One database per service (DESIGN rule 2), created on the PostgreSQL container's first start.
set -euo pipefail
for db in haven_gateway haven_incidents haven_alerts haven_documents haven_transfers; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -c "CREATE DATABASE $db OWNER $POSTGRES_USER"
done
