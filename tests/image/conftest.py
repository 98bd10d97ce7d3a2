from tests.fixtures.debian import debian_image  # noqa: F401
from tests.fixtures.project_image import project_image  # noqa: F401
from tests.fixtures.rootfs import busybox_rootfs, rootfs_templates  # noqa: F401
from tests.fixtures.musl import musl_layout  # noqa: F401
