from __future__ import annotations

from pathlib import Path

import pytest

from tests.differential.builders import Buildah
from tests.fixtures.busybox_images import busybox_image, busybox_layout  # noqa: F401
from tests.fixtures.registry import RegistryHandle
from tests.fixtures.rootfs import rootfs_templates  # noqa: F401


@pytest.fixture(scope="session")
def buildah(tmp_path_factory: pytest.TempPathFactory, registry: RegistryHandle) -> Buildah:
    return Buildah(tmp_path_factory.mktemp("buildah"), registry.host)
