"""A tiny SQL-folder migration tool for the migration gates' tests (run as a script, in the
project's directory): applies each ``sql/*.sql`` not yet recorded in ``applied_migrations``,
in name order, each file in one transaction, to the database at ``$DATABASE_URL``.

If a file ``hold`` is in the directory, after applying it writes its pid to the path ``hold``
names and sleeps (at most 60 s): a test kills the deploy then, between the migration and the
release's start.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg

HOLD_SECONDS = 60.0


def main() -> None:
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS applied_migrations (name text PRIMARY KEY)")
        applied = {row[0] for row in conn.execute("SELECT name FROM applied_migrations")}
        conn.commit()
        for path in sorted(Path("sql").glob("*.sql")):
            if path.name in applied:
                continue
            print(f"applying {path.name}", flush=True)
            conn.execute(path.read_text(encoding="utf-8").encode())
            conn.execute("INSERT INTO applied_migrations (name) VALUES (%s)", (path.name,))
            conn.commit()
    hold = Path("hold")
    if hold.exists():
        Path(hold.read_text(encoding="utf-8").strip()).write_text(str(os.getpid()))
        time.sleep(HOLD_SECONDS)


if __name__ == "__main__":
    main()
