"""The malicious layer corpus end to end: each case is a real base image in the registry
(busybox plus hostile layers, written with the standard library and pushed by skopeo) that
`multiarch executor` builds FROM with a RUN step, so its layers are really unpacked into the
store and used as overlay lower dirs. Whatever the layers try, nothing outside the root
changes: sentinel files around the store, a planted host file and /etc/shadow stay as they
were. Layers the unpacker must refuse fail the build with one clear line naming the problem.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.images import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Blob,
    write_layout,
)
from tests.fixtures.registry import RegistryHandle, unique_repo
from tests.reliability.helpers import environ, run_cli, write_context
from tests.unit.fs.helpers import Entry, make_tar, tree_state

SYM, LNK, DIR = tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE
CHR, BLK = tarfile.CHRTYPE, tarfile.BLKTYPE
READABLE = "READABLE "


@dataclass(frozen=True)
class Host:
    """What a layer aims at: `box` holds the store next to sentinels; `planted` is elsewhere."""

    box: Path
    store: Path
    sentinel: Path
    planted: Path

    def ups(self, target: Path) -> str:
        """A relative link target that reaches `target` from any depth inside the store."""
        return "../" * 40 + str(target).lstrip("/")


@dataclass(frozen=True)
class Case:
    name: str
    layers: tuple[tuple[Entry, ...], ...]
    rejected: str | None = None
    """A word the one-line error must hold; None when the build must succeed (safely)."""


def file(name: str, data: bytes = b"x") -> Entry:
    return Entry(name, data=data)


def link(name: str, target: object) -> Entry:
    return Entry(name, SYM, linkname=str(target))


def hardlink(name: str, target: object) -> Entry:
    return Entry(name, LNK, linkname=str(target))


def layer(*entries: Entry) -> tuple[Entry, ...]:
    return entries


def corpus(host: Host) -> list[Case]:
    s, p = host.sentinel, host.planted
    disk = os.stat("/").st_dev
    mark = b"overwritten"
    rel_links = [e for k in range(1, 7) for e in (link(f"rel{k}", "../" * k + "sentinel"),
                                                   file(f"rel{k}/pwned"))]
    return [
        Case("traversal", (layer(*(file("../" * k + "sentinel/pwned") for k in range(1, 5))),),
             rejected="'..'"),
        Case("traversal-inner", (layer(file("a/b/../../../../sentinel/pwned")),), rejected="'..'"),
        Case("absolute-names", (layer(file(f"{s}/pwned"), file(str(p))),)),
        Case("symlink-parent-absolute", (layer(link("link", s), file("link/pwned"),
                                               file("link/keep", mark)),)),
        Case("symlink-parent-relative", (layer(*rel_links, link("far", host.ups(s)),
                                               file("far/pwned")),)),
        Case("symlink-chain", (layer(link("a", "b/../.."), link("b", s), file("a/keep", mark),
                                     file("b/pwned")),)),
        Case("hardlink-shadow", (layer(hardlink("x", "/etc/shadow")),), rejected="hardlink"),
        Case("hardlink-shadow-relative", (layer(hardlink("x", "../../../../etc/shadow")),),
             rejected="'..'"),
        Case("hardlink-through-symlink", (layer(link("up", host.ups(Path("/"))),
                                                hardlink("x", "up/etc/shadow")),),
             rejected="hardlink"),
        Case("hardlink-planted", (layer(hardlink("x", p)),), rejected="hardlink"),
        Case("device-nodes", (layer(
            Entry("evil", DIR, mode=0o755),
            Entry("evil/disk", BLK, devmajor=os.major(disk), devminor=os.minor(disk)),
            Entry("evil/mem", CHR, devmajor=1, devminor=1),
            Entry("evil/kmsg", CHR, devmajor=1, devminor=11),
        ),)),
        Case("deep-path", (layer(file("/".join(["d"] * 10_000) + "/f")),), rejected="longer than"),
        Case("duplicate-entries", (layer(file("f", b"one"), file("f", b"two"), Entry("d", DIR),
                                         link("d", s), file("d/pwned"), link("f", p),
                                         file("f", b"three")),)),
        Case("whiteout-dotdot", (layer(Entry("a", DIR), file("a/.wh..", b"")),),
             rejected="whiteout"),
        Case("whiteout-parent", (layer(file("a/../.wh.sentinel", b"")),), rejected="'..'"),
        Case("whiteout-through-symlink", (layer(
            link("link", s), file("link/.wh.keep", b""), link("far", host.ups(p.parent)),
            file(f"far/.wh.{p.name}", b""), file("far/.wh..wh..opq", b""),
        ),)),
        Case("symlink-then-file-next-layer", (
            layer(link("esc", s), link("rel", host.ups(s)), link("hard", p)),
            layer(file("esc/pwned"), file("esc/keep", mark), file("rel/pwned"), file("hard", mark),
                  file("esc/.wh.keep", b"")),
        )),
    ]


# Each RUN tries to use what the layers planted, from inside the build, and reports which
# filesystem its root is on. /dev/zero is the control that shows the device probe can see a
# readable device. Marker words are split in the command so its echo never matches.
PROBE = (
    "RUN for d in /link /far /esc /rel /a /b /d /rel1 /rel2 /rel3 /rel4 /rel5 /rel6; do "
    "echo run > $d/run-pwned 2>/dev/null; rm -f $d/keep 2>/dev/null; done; "
    "for dev in /dev/zero /evil/disk /evil/mem /evil/kmsg; do "
    "[ -e $dev ] && [ $(head -c 64 $dev 2>/dev/null | wc -c) -gt 0 ] && "
    "echo READ''ABLE {case} $dev; "
    "done; "
    "echo x > /hard 2>/dev/null; touch /probed; "
    "awk '$5 == \"/\" {{print \"ROOT\" \"FS\", \"{case}\", $(NF-2)}}' /proc/self/mountinfo; true\n"
)
AMD64 = {"architecture": "amd64", "os": "linux"}


def image_for(
    base_layers: list[Blob], base_diff_ids: list[str], case: Case
) -> tuple[Blob, list[Blob]]:
    """The busybox base with `case`'s layers on top: (manifest, config + layers)."""
    tars = [make_tar(list(layer)) for layer in case.layers]
    layers = [*base_layers, *(Blob(gzip.compress(t, mtime=0), OCI_LAYER_GZIP) for t in tars)]
    diff_ids = [*base_diff_ids, *("sha256:" + hashlib.sha256(t).hexdigest() for t in tars)]
    config = Blob(json.dumps({
        **AMD64,
        "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Labels": {"case": case.name}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }).encode(), OCI_CONFIG)
    manifest = Blob(json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config.descriptor(),
        "layers": [b.descriptor() for b in layers],
    }).encode(), OCI_MANIFEST)
    return manifest, [config, *layers]


def busybox_amd64(layout: Path) -> tuple[list[Blob], list[str]]:
    def blob(digest: str) -> bytes:
        return (layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()

    top = json.loads((layout / "index.json").read_text())["manifests"][0]
    index = json.loads(blob(top["digest"]))
    entry = next(m for m in index["manifests"] if m["platform"]["architecture"] == "amd64")
    manifest = json.loads(blob(entry["digest"]))
    config = json.loads(blob(manifest["config"]["digest"]))
    layers = [Blob(blob(d["digest"]), d["mediaType"]) for d in manifest["layers"]]
    return layers, config["rootfs"]["diff_ids"]


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Host:
    box = tmp_path_factory.mktemp("hostile-box")
    sentinel = box / "sentinel"
    (sentinel / "etc").mkdir(parents=True)
    (sentinel / "keep").write_text("untouched")
    (box / "keep-next-to-store").write_text("untouched")
    planted_dir = tmp_path_factory.mktemp("hostile-host")
    (planted_dir / "planted").write_text("host file")
    return Host(box=box, store=box / "store", sentinel=sentinel, planted=planted_dir / "planted")


@pytest.fixture(scope="module")
def hostile_images(
    host: Host, registry: RegistryHandle, busybox_layout: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:
    """Case name -> image reference (by digest). All cases go in one OCI index, so a single
    skopeo copy pushes every manifest and blob."""
    base_layers, base_diff_ids = busybox_amd64(busybox_layout)
    manifests, blobs = {}, []
    for case in corpus(host):
        manifests[case.name], case_blobs = image_for(base_layers, base_diff_ids, case)
        blobs += case_blobs
    index = Blob(json.dumps({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [m.descriptor(platform=AMD64) for m in manifests.values()],
    }).encode(), OCI_INDEX)
    layout = tmp_path_factory.mktemp("hostile-layout")
    write_layout(layout, {"corpus": index}, [*manifests.values(), *blobs])
    repo = unique_repo("hostile")
    subprocess.run(["skopeo", "copy", "--quiet", "--all", "--dest-tls-verify=false",
                    f"oci:{layout}:corpus",
                    f"docker://{registry.host}/{repo}:corpus"], check=True, capture_output=True)
    return {name: f"{registry.host}/{repo}@{m.digest}" for name, m in manifests.items()}


def outside_state(host: Host) -> dict[str, object]:
    """Everything a hostile layer might reach on the host."""
    shadow = os.stat("/etc/shadow")
    return {
        "box": tree_state(host.box, skip=("store",)),
        "planted": tree_state(host.planted.parent),
        "shadow": (shadow.st_nlink, shadow.st_size, shadow.st_mtime_ns, shadow.st_mode,
                   hashlib.sha256(Path("/etc/shadow").read_bytes()).hexdigest()),
    }


def dockerfile(cases: list[Case], images: dict[str, str]) -> str:
    """One stage per case, FROM its image, with the probe; a last stage needs them all."""
    stages = [f"FROM {images[c.name]} AS s{i}\n" + PROBE.format(case=c.name)
              for i, c in enumerate(cases)]
    final = [f"COPY --from=s{i} /probed /probed-{i}\n" for i in range(len(cases))]
    return "".join(stages) + "FROM scratch\n" + "".join(final)


def build(
    host: Host, context: Path, text: str, snapshotter: str
) -> subprocess.CompletedProcess[str]:
    write_context(context, text)
    registry = text.split(maxsplit=2)[1].split("/")[0]
    return run_cli("executor", "--context", str(context), "--dockerfile",
                   str(context / "Dockerfile"), "--no-push", "--insecure-registry", registry,
                   env=environ(MULTIARCH_CACHE_DIR=str(host.store), MULTIARCH_RETRY_ATTEMPTS="2",
                               MULTIARCH_SNAPSHOTTER=snapshotter))


@pytest.mark.parametrize("snapshotter", ["overlay", "walk"])
def test_hostile_layer_corpus_end_to_end(
    tmp_path: Path, host: Host, hostile_images: dict[str, str], snapshotter: str
) -> None:
    """overlay: each layer is unpacked alone into a lower dir; walk: all layers are unpacked
    into one root (whiteouts delete, a later layer writes through an earlier one's links).
    The allowed cases are the stages of one build; each refused case is a build of its own."""
    cases = corpus(host)
    assert len(cases) == len(hostile_images) >= 17
    allowed = [c for c in cases if c.rejected is None]
    refused = [c for c in cases if c.rejected is not None]
    before = outside_state(host)
    jobs = [(tmp_path / "allowed", dockerfile(allowed, hostile_images))]
    jobs += [(tmp_path / c.name, dockerfile([c], hostile_images)) for c in refused]
    # Builds side by side into the one store: also shares the busybox layer's extraction.
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda job: build(host, *job, snapshotter), jobs))

    done, output = results[0], results[0].stdout + results[0].stderr
    assert done.returncode == 0 and "Traceback" not in output, output[-3000:]
    escapes = [line for line in output.splitlines() if READABLE in line and "/dev/zero" not in line]
    for case in allowed:
        assert f"READABLE {case.name} /dev/zero" in output, f"{case.name}: the probe did not run"
        assert root_fs(output, case) == snapshotter, f"{case.name}\n{output[-3000:]}"
    wrong = [f"{case.name}: exit {done.returncode}\n{done.stderr[-1500:]}"
             for case, done in zip(refused, results[1:]) if not refused_clearly(case, done)]
    assert wrong == [], "\n\n".join(wrong)
    assert escapes == []
    assert outside_state(host) == before
    assert sorted(p.name for p in host.box.iterdir()) == ["keep-next-to-store", "sentinel", "store"]


def root_fs(output: str, case: Case) -> str:
    """Which snapshotter the case's RUN step ran on, from its root's filesystem type."""
    marker = f"ROOTFS {case.name} "
    types = [line.split(marker, 1)[1] for line in output.splitlines() if marker in line]
    return "overlay" if types == ["overlay"] else "walk" if types else "unknown"


def refused_clearly(case: Case, done: subprocess.CompletedProcess[str]) -> bool:
    """Exit 1 with one `error:` line naming the problem, no traceback."""
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    return (done.returncode == 1 and "Traceback" not in done.stderr and len(errors) == 1
            and case.rejected in errors[0])
