import os

import pytest

from tests.fixtures.rootfs import busybox_rootfs, rootfs_templates  # noqa: F401 (fixtures)


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("sandbox tests run real namespaces and mounts: they need root")
