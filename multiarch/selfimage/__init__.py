"""multiarch's own image: the self-contained builder bundle and `./tasks image`."""
