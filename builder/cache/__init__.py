"""Build cache: unchanged steps never run twice (`--cache`, `--cache-repo`, `--cache-ttl`,
`--cache-run-layers`, `--cache-copy-layers`).

- `options`: `CacheOptions` and `cache_options(...)` from the executor flags.
- `keys`: what a step's key covers (on top of `builder.executor.cachekey`).
- `entry`, `local`, `remote`: one cached step, kept in the store and in a registry repo.
- `build`: `BuildCache`, what the executor holds; `stage`: `StageCache`, one stage's
  look-ahead and its steps' hits and misses.
"""
