"""While the full-record migration (0002) is unreleased: rebuild it from services/incidents/models.py.

    .venv/bin/python deploy/dev/regenerate_incidents_migration.py

Adds server defaults (from the models' defaults) to every NOT NULL column added to an existing
table, so a database holding rows from 0001 upgrades cleanly. Delete this script once 0002 ships.
"""
from __future__ import annotations

import glob
import json
import os
import re
import tempfile

from alembic import command
from alembic.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIGRATIONS = os.path.join(ROOT, "services", "incidents", "migrations")


def server_default(table: str, column: str) -> str | None:
    from services.incidents.models import Base
    col = Base.metadata.tables[table].columns[column]
    arg = getattr(col.default, "arg", None)
    if callable(arg) and col.type.__class__.__name__ == "JSON":
        return repr("[]")  # default=list
    if callable(arg) or arg is None:
        return None
    if isinstance(arg, bool):
        return "sa.true()" if arg else "sa.false()"
    if isinstance(arg, (list, dict)):
        return repr(json.dumps(arg))
    return repr(str(arg))


def main() -> None:
    for old in glob.glob(os.path.join(MIGRATIONS, "versions", "0002_*.py")) + glob.glob(
            os.path.join(MIGRATIONS, "versions", "50f9cc3b4025_*.py")):
        os.remove(old)
    db = os.path.join(tempfile.mkdtemp(), "incidents.sqlite3")
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    cfg.set_main_option("sqlalchemy.url", f"sqlite:///{db}")
    command.upgrade(cfg, "head")
    command.revision(cfg, message="full record", autogenerate=True, rev_id="0002")
    (path,) = glob.glob(os.path.join(MIGRATIONS, "versions", "0002_*.py"))
    text = open(path).read()
    table = None
    out = []
    for line in text.splitlines():
        m = re.search(r"batch_alter_table\('(\w+)'", line)
        if m:
            table = m.group(1)
        m = re.search(r"add_column\(sa\.Column\('(\w+)'.*nullable=False\)\)$", line)
        if m and "server_default" not in line and table:
            default = server_default(table, m.group(1))
            if default:
                line = line[:-2] + f", server_default={default}))"
        out.append(line)
    open(path, "w").write("\n".join(out) + "\n")
    print(f"regenerated {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
    main()
