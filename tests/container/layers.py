"""What an image changed against its base, read with skopeo (an independent client) and the
standard library's tarfile: the base's layers must come first, unchanged, and the names in the
layers after them are the image's whole change."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path


def _layers(ref: str) -> list[str]:
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    return list(json.loads(out)["Layers"])


def changed_paths(ref: str, base: str, workdir: Path) -> list[set[str]]:
    """The entry names of each layer `ref` has beyond `base`'s (directories without "/")."""
    base_layers, layers = _layers(base), _layers(ref)
    assert layers[: len(base_layers)] == base_layers, "the base layers are not kept as they are"
    layout = workdir / f"layout-{len(list(workdir.glob('layout-*')))}"
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}",
                    f"oci:{layout}:img"], check=True, capture_output=True)  # fmt: skip
    changes = []
    for digest in layers[len(base_layers):]:
        with tarfile.open(layout / "blobs" / "sha256" / digest.split(":")[1]) as tar:
            changes.append({m.name.removeprefix("./").rstrip("/") for m in tar.getmembers()})
    return changes
