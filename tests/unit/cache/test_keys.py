"""Cache keys: what changes a key and what must not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from builder.cache.entry import CacheEntry
from builder.cache.keys import SourceHasher, instruction_material, step_extra
from builder.cache.options import parse_go_duration
from builder.dockerfile import parse_dockerfile
from builder.dockerfile.dockerignore import DockerIgnore
from builder.errors import UsageError
from builder.oci.models import Descriptor


def _ins(line: str, prefix: str = ""):  # type: ignore[no-untyped-def]
    return parse_dockerfile(f"FROM a\n{prefix}{line}\n").stages[0].instructions[-1]


@pytest.mark.parametrize("a,b,same", [
    ("RUN echo hi", "RUN echo hi", True),
    ("COPY a b", "COPY  a   b", True),
    ("RUN echo hi", "RUN echo ho", False),
    ("COPY a /b", "COPY --chmod=0600 a /b", False),
    ("COPY a /b", "COPY --chown=1:1 a /b", False),
    ("COPY --from=x a /b", "COPY --from=y a /b", False),
    ('RUN ["echo", "hi"]', "RUN echo hi", False),
    ("RUN --mount=type=bind,source=a,target=/a true", "RUN --mount=type=bind,source=b,target=/a true", False),
])
def test_material_is_the_expanded_instruction_not_its_place(a: str, b: str, same: bool) -> None:
    assert (instruction_material(_ins(a)) == instruction_material(_ins(b, prefix="\n# moved\n"))) is same


def _tree(root: Path) -> None:
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.txt").write_text("a")
    (root / "src" / "b.log").write_text("b")


def test_fingerprint_follows_content_modes_and_dockerignore(tmp_path: Path) -> None:
    _tree(tmp_path)

    def fp(ignore: str = "") -> str:
        return SourceHasher(tmp_path, DockerIgnore.from_text(ignore)).fingerprint(("src",))

    base = fp("*/*.log")
    (tmp_path / "src" / "b.log").write_text("changed")
    assert fp("*/*.log") == base  # ignored file
    assert fp() != fp("*/*.log")
    os.chown(tmp_path / "src" / "a.txt", 1234, 1234)
    os.utime(tmp_path / "src" / "a.txt", (1, 1))
    assert fp("*/*.log") == base  # owner and mtime never reach the image of a context COPY
    (tmp_path / "src" / "a.txt").chmod(0o600)
    assert fp("*/*.log") != base
    (tmp_path / "src" / "a.txt").chmod(0o644)
    (tmp_path / "src" / "a.txt").write_text("A")
    assert fp("*/*.log") != base
    (tmp_path / "src" / "a.txt").write_text("a")
    assert fp("*/*.log") == base


def test_reincluded_file_under_an_ignored_dir_counts(tmp_path: Path) -> None:
    _tree(tmp_path)
    ignore = DockerIgnore.from_text("src\n!src/a.txt\n")
    before = SourceHasher(tmp_path, ignore).fingerprint(("src/a.txt",))
    (tmp_path / "src" / "a.txt").write_text("new")
    assert SourceHasher(tmp_path, ignore).fingerprint(("src/a.txt",)) != before


def test_url_without_checksum_is_never_cached(tmp_path: Path) -> None:
    hasher = SourceHasher(tmp_path, DockerIgnore())
    assert step_extra(_ins("ADD https://example.com/x /x"), hasher, lambda n: None) is None
    assert step_extra(_ins("ADD --checksum=sha256:" + "0" * 64 + " https://example.com/x /x"), hasher,
                      lambda n: None) is not None
    assert step_extra(_ins("COPY --from=build /a /a"), hasher, lambda n: None) is None
    assert step_extra(_ins("COPY --from=build /a /a"), hasher, lambda n: "sha256:k") == "from:sha256:k"


@pytest.mark.parametrize("text,seconds", [("336h", 336 * 3600), ("1h30m", 5400), ("90s", 90), ("1.5h", 5400)])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2 weeks", "10", "h", "1d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UsageError):
        parse_go_duration(text)


def test_entry_round_trips() -> None:
    layer = Descriptor(mediaType="application/vnd.oci.image.layer.v1.tar+gzip", digest="sha256:" + "1" * 64, size=3)
    entry = CacheEntry("sha256:" + "2" * 64, layer, "sha256:" + "3" * 64, 1700000000.5)
    assert CacheEntry.from_json(entry.to_json()) == entry
    assert CacheEntry.from_annotations(entry.annotations(), [layer]) == entry
    empty = CacheEntry("sha256:" + "2" * 64, None, None, 1.0)
    assert CacheEntry.from_annotations(empty.annotations(), []) == empty
    with pytest.raises(ValueError):
        CacheEntry.from_annotations(empty.annotations(), [layer])
    assert entry.expired(10, now=1700000011) and not entry.expired(10, now=1700000010)
