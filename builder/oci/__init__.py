"""OCI and Docker image models, media types, digests and platforms (pure: no I/O)."""
