"""The core builder: builds one OCI image for one platform from a Dockerfile, no daemon."""

import sys

# `import httpx` also imports its command-line client (httpx._main: click, rich.syntax,
# pygments), about 90 ms of every registry-touching start-up. A None entry makes that
# optional import fail, and httpx falls back to a stub `main`; nothing of ours uses it.
sys.modules.setdefault("httpx._main", None)
