# multiarch's own image, built by multiarch itself: `./tasks image` (linux/amd64 and
# linux/arm64, targets `release` and `debug`, into the OCI layout .image/).
# Both carry the self-contained builder bundle at /multiarch — its own Python, libraries,
# glibc loader and static QEMU (multiarch/selfimage/bundle.py) — which `./tasks image` first
# assembles from Debian packages and PyPI wheels into .image-build/bundle-ARCH/.
#   release: nothing but /multiarch (no shell), like kaniko's executor image
#   debug:   BASE (busybox from Debian packages unless `./tasks image --base REF`) with
#            /multiarch, entrypoint /bin/sh — kaniko's :debug
# The bundle sets its own defaults (CA bundle, store and temporary files under /multiarch).
ARG BASE

FROM scratch AS release
ARG TARGETARCH
COPY .image-build/bundle-${TARGETARCH}/ /multiarch/
ENV PATH=/multiarch/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /workspace
ENTRYPOINT ["/multiarch/bin/multiarch"]
CMD ["--help"]

FROM ${BASE} AS debug
ARG TARGETARCH
COPY .image-build/bundle-${TARGETARCH}/ /multiarch/
ENV PATH=/multiarch/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /workspace
ENTRYPOINT ["/bin/sh"]
