"""Copy every row of one dispatcher database into another, e.g. an embedded SQLite file into a
freshly migrated PostgreSQL database when a bar moves to production.

    .venv/bin/python scripts/copy_database.py SOURCE_URL TARGET_URL

The target must be empty and at the code's schema (`dispatcher db upgrade` first). Tables are
copied in dependency order, in batches, in one transaction; PostgreSQL's id sequences are moved
past the copied ids. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time

from sqlalchemy import Integer, func, select, text

from dispatcher import models  # noqa: F401  (registers the tables)
from dispatcher.db import make_engine, metadata

BATCH = 5000
# Tables a fresh schema already holds a row of: the source's replaces it. The registry's
# version; and the audit key, which the migrations make for a new database: the copied chain's
# keyed hashes were made with the source's key, which must come along.
SEEDED = {"registry_version", "audit_key"}
# Columns the target's own triggers keep: copied as their starting value, and the triggers
# count the copied rows into them (a lawyer's `open_load` follows the invitations and
# appointments copied after the lawyer), so nothing is counted twice.
COUNTED = {"lawyer": {"open_load": 0}}


def copy(source_url: str, target_url: str) -> dict[str, int]:
    source, target = make_engine(source_url), make_engine(target_url)
    copied: dict[str, int] = {}
    try:
        with source.connect() as reader, target.begin() as writer:
            for table in metadata.sorted_tables:
                if table.name in SEEDED:
                    writer.execute(table.delete())
                if writer.execute(select(func.count()).select_from(table)).scalar():
                    raise SystemExit(f"target table {table.name} is not empty")
                started, n = time.perf_counter(), 0
                rows = reader.execution_options(yield_per=BATCH).execute(select(table))
                counted = COUNTED.get(table.name, {})
                for batch in rows.mappings().partitions(BATCH):
                    writer.execute(table.insert(), [dict(row) | counted for row in batch])
                    n += len(batch)
                    print(f"  {table.name}: {n}", file=sys.stderr, end="\r")
                copied[table.name] = n
                print(
                    f"  {table.name}: {n} rows in {time.perf_counter() - started:.1f} s",
                    file=sys.stderr,
                )
                keys = list(table.primary_key.columns)
                if (
                    writer.dialect.name == "postgresql"
                    and len(keys) == 1
                    and isinstance(keys[0].type, Integer)
                    and keys[0].autoincrement in (True, "auto")
                    and n
                ):
                    writer.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', "
                            f"'{keys[0].name}'), (SELECT max({keys[0].name}) FROM {table.name}))"
                        )
                    )
    finally:
        source.dispose()
        target.dispose()
    return copied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("target")
    args = parser.parse_args()
    copied = copy(args.source, args.target)
    print(f"copied {sum(copied.values())} rows in {len(copied)} tables")


if __name__ == "__main__":
    main()
