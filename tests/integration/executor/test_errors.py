"""Bad input fails with one clear line that names the Dockerfile line and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.executor.run import run_executor
from builder.events import discard
from builder.errors import MultiarchError
from builder.options import ExecutorOptions


@pytest.mark.parametrize(
    "body,message",
    [
        ("COPY missing.txt /x", 'Dockerfile:2: [stage-0] COPY: failed to compute cache key: "/missing.txt": not found'),
        ("COPY --chmod=999 a.txt /x", "Dockerfile:2: COPY: invalid chmod parameter: '999'"),
        ("USER nobody-here\nRUN true", "unable to find user nobody-here"),
        ("COPY --chown=ghost a.txt /x", "unable to find user ghost"),
        ("RUN --mount=type=secret,id=absent,required=true true", "secret absent not found"),
        ("COPY a.txt b.txt /notadir", "must be a directory and end with a /"),
        ("RUN --mount=type=bind,source=nope,target=/m true", 'bind mount source "/nope" not found in the build context'),
        ("COPY http://example.invalid/x /x", "source can't be a URL for COPY"),
        ("STOPSIGNAL SIGNOPE", "invalid signal: SIGNOPE"),
        ("ADD --checksum=sha256:00 a.txt /x", "checksum can't be specified for non-HTTP(S) sources"),
    ],
)
def test_clear_errors(tmp_path: Path, busybox_layout: Path, monkeypatch: pytest.MonkeyPatch,
                      body: str, message: str) -> None:
    monkeypatch.setenv("MULTIARCH_CACHE_DIR", str(tmp_path / "store"))
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "a.txt").write_text("a\n")
    (context / "b.txt").write_text("b\n")
    (context / "Dockerfile").write_text(f"FROM oci:{busybox_layout}:latest\n{body}\n")
    with pytest.raises(MultiarchError) as caught:
        run_executor(ExecutorOptions(context=str(context), dockerfile=str(context / "Dockerfile"),
                                     no_push=True), discard)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_bad_reference_fails_before_anything_is_pulled(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # The base lives on a registry nobody answers for: the build must fail on the bad
    # --from value of line 3 without trying to reach it.
    monkeypatch.setenv("MULTIARCH_CACHE_DIR", str(tmp_path / "store"))
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM 127.0.0.1:9/never/pulled\nRUN true\nCOPY --from=Not_A_Ref /a /b\n")
    with pytest.raises(MultiarchError) as caught:
        run_executor(ExecutorOptions(context=str(context), dockerfile=str(context / "Dockerfile"),
                                     no_push=True), discard)
    assert str(caught.value) == (
        f'{context}/Dockerfile:3: COPY: failed to parse stage name "Not_A_Ref": invalid reference format')
