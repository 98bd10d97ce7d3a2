"""Rules buildah 1.28 cannot build at all (heredocs, symbolic --chmod: it stops with a parse
error), so the image is checked against the result BuildKit's own frontend tests expect,
written here next to the test it comes from (moby/buildkit frontend/dockerfile/...)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.differential.builders import build_ours
from tests.differential.flatten import Entry, FlatImage
from tests.fixtures.registry import RegistryHandle

HEREDOCS = """\
FROM {base}
ARG name=world
WORKDIR /dest
COPY <<EOF single
single file
EOF
COPY <<EOF <<EOF2 double/
first file
EOF
second file
EOF2
COPY --chmod=777 <<EOF /perm/all
x
EOF
COPY --chown=builder:users <<EOF /perm/owned
x
EOF
COPY <<EOF c1
Hello ${{name}}!
EOF
COPY <<'EOF' c2
Hello ${{name}}!
EOF
COPY <<"EOF" c3
Hello ${{name}}!
EOF
COPY <<EOF q2
Hello "${{name}}"!
EOF
COPY <<EOF slash1
\\
EOF
COPY <<EOF slash3
\\$
EOF
COPY <<"EOF" rawslash3
\\$
EOF
COPY <<EOF foo-copy
\tfoo
EOF
COPY <<-EOF bar-copy
\tbar
EOF
RUN <<EOF
greeting="Hello"
echo "${{greeting}} ${{name}}!" > /dest/r1
EOF
RUN <<EOF
name="new world"
echo "Hello ${{name}}!" > /dest/r2
EOF
RUN <<-EOF
echo "
\tbar" > /dest/bar-run
EOF
RUN <<EOF sh > /dest/foo3-run
echo "
\tfoo"
EOF
RUN <<EOF
#!/usr/bin/awk -f
BEGIN {{
\tprint "hello" >> "./out1"
}}
EOF
RUN cat <<EOF1 | tr '[:upper:]' '[:lower:]' > ./lower; \\
    cat <<EOF2 | tr '[:lower:]' '[:upper:]' > ./upper
hello WORLD
EOF1
HELLO world
EOF2
"""

# frontend/dockerfile/dockerfile_heredoc_test.go: testCopyHeredoc, testHeredocVarSubstitution,
# testCopyHeredocSpecialSymbols, testHeredocIndent, testRunShebangHeredoc (awk is in /usr/bin
# in Debian's busybox), testRunComplexHeredoc.
HEREDOC_FILES = {
    "/dest/single": "single file\n", "/dest/double/EOF": "first file\n",
    "/dest/double/EOF2": "second file\n",
    "/dest/c1": "Hello world!\n", "/dest/c2": "Hello ${name}!\n", "/dest/c3": "Hello ${name}!\n",
    "/dest/q2": 'Hello "world"!\n', "/dest/slash1": "\n", "/dest/slash3": "$\n",
    "/dest/rawslash3": "\\$\n", "/dest/foo-copy": "\tfoo\n", "/dest/bar-copy": "bar\n",
    "/dest/r1": "Hello world!\n", "/dest/r2": "Hello new world!\n",
    "/dest/bar-run": "\nbar\n", "/dest/foo3-run": "\n\tfoo\n", "/dest/out1": "hello\n",
    "/dest/lower": "hello world\n", "/dest/upper": "HELLO WORLD\n",
}

# COPY --chmod with symbolic modes (dockerfile 1.14, docs/reference.md "COPY --chmod";
# chmod(1) semantics with umask 0 from tonistiigi/dchapes-mode): applied to each copied
# file and directory against its own mode; X sets x only on directories and on files that
# already have an x bit.
CHMOD = """\
FROM {base}
COPY --chmod=+x a.txt /sym/plus-x
COPY --chmod=u=rwX,go=rX dir /sym/tree
COPY --chmod=g=u,o-r run.sh /sym/g-eq-u
COPY --chmod=a-w,u+s run.sh /sym/setuid
COPY --chmod=0640 a.txt /sym/octal
RUN ln -s /tmp /via-link
COPY --link a.txt /via-link/
"""

CHMOD_MODES = {
    "/sym/plus-x": 0o755, "/sym/tree": 0o755, "/sym/tree/x.txt": 0o644,
    "/sym/tree/run.sh": 0o755, "/sym/tree/sub": 0o755, "/sym/g-eq-u": 0o770,
    "/sym/setuid": 0o4554, "/sym/octal": 0o640,
}


def _context(tmp_path: Path) -> Path:
    ctx = tmp_path / "context"
    (ctx / "dir/sub").mkdir(parents=True)
    (ctx / "a.txt").write_text("a\n")
    (ctx / "dir/x.txt").write_text("x\n")
    (ctx / "dir/x.txt").chmod(0o600)
    (ctx / "dir/run.sh").write_text("#!/bin/sh\n")
    (ctx / "dir/run.sh").chmod(0o700)
    (ctx / "dir/sub").chmod(0o700)
    (ctx / "run.sh").write_text("#!/bin/sh\n")
    (ctx / "run.sh").chmod(0o754)
    return ctx


def _build(tmp_path: Path, text: str, registry: RegistryHandle, busybox_image: str) -> FlatImage:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(text.format(base=busybox_image))
    return build_ours(_context(tmp_path), dockerfile, "linux/amd64", tmp_path / "ours",
                      tmp_path / "store", registry.host)


@pytest.mark.slow
def test_heredocs(tmp_path: Path, registry: RegistryHandle, busybox_image: str) -> None:
    image = _build(tmp_path, HEREDOCS, registry, busybox_image)
    got = {path: (image.files[path].detail or "")[len("text:"):] if path in image.files else None
           for path in HEREDOC_FILES}
    assert got == HEREDOC_FILES
    assert image.files["/perm/all"] == Entry("file", 0o777, 0, 0, "text:x\n")
    assert image.files["/perm/owned"] == Entry("file", 0o644, 1000, 100, "text:x\n")


@pytest.mark.slow
def test_symbolic_chmod_and_link(tmp_path: Path, registry: RegistryHandle,
                                 busybox_image: str) -> None:
    image = _build(tmp_path, CHMOD, registry, busybox_image)
    assert {path: image.files[path].mode for path in CHMOD_MODES} == CHMOD_MODES
    # COPY --link never follows a symlink of the earlier state at the destination: its layer
    # makes /via-link a directory (docs/reference.md "COPY --link"; buildah 1.28 has no --link).
    assert image.files["/via-link"] == Entry("dir", 0o755, 0, 0)
    assert "/via-link/a.txt" in image.files and "/tmp/a.txt" not in image.files
