"""Reads a Tenure event lake as it is, with DuckDB, pyarrow and pandas, and prints what each
saw as JSON. Usage: lake_read.py LAKE_DIR."""

import json
import sys

import duckdb
import pandas as pd
import pyarrow.dataset as ds

lake = sys.argv[1] + "/events"
con = duckdb.connect()
by_type = dict(
    con.execute(
        f"SELECT type, count(*) FROM read_parquet('{lake}/*/*.parquet', hive_partitioning = true) GROUP BY type"
    ).fetchall()
)
widgets = con.execute(
    f"SELECT sum(CAST(json_extract(properties, '$.widgets') AS INTEGER)) "
    f"FROM read_parquet('{lake}/*/*.parquet') WHERE event = 'report_created'"
).fetchone()[0]
days = con.execute(
    f"SELECT count(DISTINCT date) FROM read_parquet('{lake}/*/*.parquet', hive_partitioning = true) "
    f"WHERE event = 'report_created'"
).fetchone()[0]
table = ds.dataset(lake, format="parquet", partitioning="hive").to_table()
frame = pd.read_parquet(lake)
print(
    json.dumps(
        {
            "duckdb_by_type": by_type,
            "duckdb_widgets": int(widgets),
            "duckdb_days": int(days),
            "pyarrow_rows": table.num_rows,
            "pyarrow_columns": table.column_names,
            "pandas_rows": len(frame),
            "pandas_users": sorted(frame["user_id"].dropna().unique().tolist()),
        }
    )
)
