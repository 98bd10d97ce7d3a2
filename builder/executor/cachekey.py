"""Cache keys: each step's key chains its parent's key with what the step sees.

This is the hook the build cache (issue 7) keys layers on. A key covers the parent chain
(base manifest digest or the previous step), the expanded instruction, the environment and
build args the step can see, and the platform; COPY/ADD add a fingerprint of their sources.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable


def base_key(manifest_digest: str | None, platform: str) -> str:
    return _digest({"base": manifest_digest or "scratch", "platform": platform})


def step_key(parent: str, instruction: str, env: Iterable[str], platform: str, extra: str = "") -> str:
    return _digest(
        {"parent": parent, "instruction": instruction, "env": sorted(env), "platform": platform, "extra": extra}
    )


def _digest(material: dict[str, object]) -> str:
    data = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()
