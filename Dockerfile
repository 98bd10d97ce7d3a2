# multiarch's own image. `release` (the default) runs `multiarch`; `debug` adds a shell and
# tools for CI jobs that script around it (kaniko's :debug equivalent).
#   multiarch build manifests/multiarch.yaml
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY builder builder
COPY multiarch multiarch
RUN python -m venv /opt/multiarch && /opt/multiarch/bin/pip install --no-cache-dir .

FROM python:3.11-slim-bookworm AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates qemu-user-static \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/multiarch /opt/multiarch
ENV PATH=/opt/multiarch/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    DOCKER_CONFIG=/kaniko/.docker \
    MULTIARCH_CACHE_DIR=/cache
WORKDIR /workspace

FROM runtime AS debug
RUN apt-get update \
 && apt-get install -y --no-install-recommends busybox openssh-client skopeo git \
 && rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["/bin/sh"]

FROM runtime AS release
ENTRYPOINT ["multiarch"]
CMD ["--help"]
