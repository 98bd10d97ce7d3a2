"""The benchmark suite: multiarch vs buildah on fixed workloads (see bench/README.md)."""
