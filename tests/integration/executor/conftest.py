from tests.fixtures.busybox_images import busybox_image, busybox_layout  # noqa: F401
from tests.fixtures.rootfs import rootfs_templates  # noqa: F401
from tests.fixtures.musl import musl_layout  # noqa: F401
