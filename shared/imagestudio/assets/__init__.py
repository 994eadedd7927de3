"""Assets: every output of every job, stored in object storage."""
