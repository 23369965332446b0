"""Subprocess for scenario 10: publish one snapshot through the product's path, to be SIGKILLed.

``python -m tests.integration.reliability.publish_worker <store root> <source parquet> <prefix>``: reads the
table, prints ``ready`` once the imports and the read are done, then runs
:func:`mlcycle.adapters.sources.publish_table` (Parquet write, hash, publish) and prints the key.
"""

from __future__ import annotations

import sys

import pyarrow.parquet as pq

from mlcycle.adapters.sources import publish_table
from mlcycle.adapters.store import open_store


def main(root: str, source: str, prefix: str) -> None:
    store = open_store(root)
    table = pq.read_table(source)
    if root.startswith("s3://"):
        store.exists(f"{prefix}/warm-up")  # the client is built lazily; build it before "ready"
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    key, _, _ = publish_table(store, table, prefix)
    sys.stdout.write(f"published {key}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main(*sys.argv[1:4])
