"""The core builder: builds one OCI image for one platform from a Dockerfile, no daemon."""
