"""Publishing: the hive-partitioned Parquet warehouse and its readers."""
