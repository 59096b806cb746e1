#!/bin/bash
# Run once by the postgres image on an empty data volume (/docker-entrypoint-initdb.d/).
# One database per Haven service, haven_<service>, owned by a login role of the same name that no
# other service can use (DESIGN rule 2). Passwords come from <SERVICE>_DB_PASSWORD in the
# container's environment. Changing one later needs ALTER ROLE: this script does not run again.
# No `exit` or `set -u`: the entrypoint sources this file when it is not executable.
set -e

haven_create_database() {
	local name="haven_$1" var="${1^^}_DB_PASSWORD"
	if [ -z "${!var}" ]; then
		echo "init-databases: $var is not set" >&2
		return 1
	fi
	psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
		--set=name="$name" --set=password="${!var}" <<-'SQL'
		CREATE ROLE :"name" LOGIN PASSWORD :'password';
		CREATE DATABASE :"name" OWNER :"name";
		REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
	SQL
	echo "init-databases: created database and role $name"
}

for haven_service in incidents alerts documents transfers gateway; do
	haven_create_database "$haven_service"
done
