"""归档 (ingest): read a batch as archivists bring it, check it, and turn it into AIPs."""
