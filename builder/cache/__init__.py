"""Build cache: unchanged steps never run twice (`--cache`, `--cache-repo`, `--cache-ttl`,
`--cache-run-layers`, `--cache-copy-layers`).

- `options`: `CacheOptions` and `cache_options(...)` from the executor flags.
- `keys`: how a step's key chains from its parent and what it covers.
- `entry`, `local`, `remote`: one cached step, kept in the store and in a registry repo.
- `build`: `BuildCache`, what the executor holds (each stage sees it through
  `builder.executor.stagecache.StageCache`: its look-ahead and its steps' hits and misses).
"""
