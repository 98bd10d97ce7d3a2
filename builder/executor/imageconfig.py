"""The image config and history of one stage, changed instruction by instruction exactly as
BuildKit's Dockerfile frontend changes them (field semantics, `created_by` text, `empty_layer`).

Callers pass values already expanded by builder.dockerfile; nothing here touches the disk.
"""

from __future__ import annotations

import posixpath
import signal
from dataclasses import dataclass, field
from datetime import datetime, timezone

from builder.errors import BuildError
from builder.executor import gofmt
from builder.oci.models import ContainerConfig, HealthConfig, History, ImageConfig, Platform

HISTORY_COMMENT = "buildkit.dockerfile.v0"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHELL = ["/bin/sh", "-c"]


def format_created(when: datetime) -> str:
    text = when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text.rstrip("0").rstrip(".") + "Z"


@dataclass(frozen=True)
class Health:
    test: list[str]  # ["CMD", ...], ["CMD-SHELL", cmd] or ["NONE"]
    interval_ns: int = 0
    timeout_ns: int = 0
    start_period_ns: int = 0
    start_interval_ns: int = 0
    retries: int = 0


@dataclass
class ImageState:
    """Config + history being built for one stage. `epoch` (SOURCE_DATE_EPOCH) fixes every
    `created`; otherwise each history entry gets the time it was committed."""

    config: ImageConfig
    epoch: datetime | None = None
    cmd_set: bool = False
    """CMD given in this Dockerfile stage: ENTRYPOINT then keeps it (BuildKit's tracker)."""
    build_args: list[tuple[str, str]] = field(default_factory=list)
    """ARGs declared in the stage, in order, with their values (shown in RUN history)."""

    @classmethod
    def scratch(cls, platform: Platform, epoch: datetime | None = None) -> "ImageState":
        config = ImageConfig(
            architecture=platform.architecture,
            os=platform.os,
            variant=platform.variant,
            config=ContainerConfig(Env=[f"PATH={DEFAULT_PATH}"]),
            history=[],
        )
        return cls(config=config, epoch=epoch)

    @classmethod
    def from_base(cls, base: ImageConfig, epoch: datetime | None = None) -> "ImageState":
        """A stage starting FROM an image: its config, created cleared, ONBUILD dropped
        (the triggers run in this stage instead), PATH ensured."""
        config = base.model_copy(deep=True)
        config.created = None
        container = config.config or ContainerConfig()
        container.on_build = None
        env = list(container.env or [])
        if not any(e.split("=", 1)[0] == "PATH" for e in env):
            env.append(f"PATH={DEFAULT_PATH}")
        container.env = env
        config.config = container
        config.history = list(config.history or [])
        return cls(config=config, epoch=epoch)

    def child(self) -> "ImageState":
        """A stage FROM an earlier stage: a copy without its ONBUILD triggers (they run in the
        child instead); the CMD tracker starts afresh."""
        config = self.config.model_copy(deep=True)
        if config.config is not None:
            config.config.on_build = None
        return ImageState(config=config, epoch=self.epoch, build_args=list(self.build_args))

    @property
    def container(self) -> ContainerConfig:
        if self.config.config is None:
            self.config.config = ContainerConfig()
        return self.config.config

    # --- reading -----------------------------------------------------------------------

    @property
    def env(self) -> list[str]:
        return list(self.container.env or [])

    def env_map(self) -> dict[str, str]:
        return dict(_split_env(e) for e in self.env)

    @property
    def shell(self) -> list[str]:
        return list(self.container.shell or DEFAULT_SHELL)

    @property
    def workdir(self) -> str:
        return self.container.working_dir or "/"

    @property
    def user(self) -> str:
        return self.container.user or ""

    def with_shell(self, command: str) -> list[str]:
        return self.shell + [command]

    # --- history -----------------------------------------------------------------------

    def commit(self, created_by: str, *, layer: bool, buildkit_suffix: bool = False) -> History:
        if buildkit_suffix:
            created_by += " # buildkit"
        when = self.epoch or datetime.now(timezone.utc)
        entry = History(
            created=format_created(when),
            created_by=created_by,
            comment=HISTORY_COMMENT,
            empty_layer=None if layer else True,
        )
        self.config.history = [*(self.config.history or []), entry]
        return entry

    def mark_last_empty(self) -> None:
        """A step that was to add a layer changed nothing: BuildKit drops the layer."""
        if self.config.history:
            self.config.history[-1].empty_layer = True

    def add_layer(self, diff_id: str) -> None:
        self.config.rootfs.diff_ids = [*self.config.rootfs.diff_ids, diff_id]

    def squash_layers(self, history_from: int, layers_from: int, diff_id: str | None) -> None:
        """--single-snapshot: the layers from index `layers_from` on become the one layer
        `diff_id` (None: they cancel out). The history keeps one entry per instruction; only
        the last layer-producing entry since `history_from` keeps its layer, as in kaniko."""
        self.config.rootfs.diff_ids = [
            *self.config.rootfs.diff_ids[:layers_from], *([diff_id] if diff_id else [])
        ]
        history = self.config.history or []
        producing = [h for h in history[history_from:] if not h.empty_layer]
        for entry in producing[:-1] if diff_id else producing:
            entry.empty_layer = True

    # --- metadata instructions ---------------------------------------------------------

    def set_env(self, pairs: list[tuple[str, str]]) -> None:
        env = self.env
        for key, value in pairs:
            env = _add_env(env, key, value)
        self.container.env = env
        self.commit("ENV " + " ".join(f"{k}={v}" for k, v in pairs), layer=False)

    def add_arg(self, pairs: list[tuple[str, str | None]]) -> None:
        for key, value in pairs:
            if value is not None:
                self.build_args = [(k, v) for k, v in self.build_args if k != key] + [(key, value)]
        text = " ".join(k if v is None else f"{k}={v}" for k, v in pairs)
        self.commit("ARG " + text, layer=False)

    def set_labels(self, pairs: list[tuple[str, str]]) -> None:
        labels = dict(self.container.labels or {})
        for key, value in pairs:
            labels[key] = value
        self.container.labels = labels
        self.commit("LABEL " + " ".join(f"{k}={v}" for k, v in pairs), layer=False)

    def add_labels_silently(self, labels: dict[str, str]) -> None:
        """`--label` flags: merged into the final image without a history entry."""
        if labels:
            self.container.labels = {**(self.container.labels or {}), **labels}

    def set_maintainer(self, name: str) -> None:
        self.config.author = name
        self.commit(f"MAINTAINER {name}", layer=False)

    def set_cmd(self, args: list[str], *, shell_form: bool) -> None:
        cmd = self.with_shell(" ".join(args)) if shell_form else list(args)
        self.container.cmd = cmd
        self.container.args_escaped = True
        self.cmd_set = True
        self.commit(f"CMD {gofmt.quote_list(cmd)}", layer=False)

    def set_entrypoint(self, args: list[str], *, shell_form: bool) -> None:
        entrypoint = self.with_shell(" ".join(args)) if shell_form else list(args)
        self.container.entrypoint = entrypoint
        if not self.cmd_set:
            self.container.cmd = None
        self.commit(f"ENTRYPOINT {gofmt.quote_list(entrypoint)}", layer=False)

    def set_healthcheck(self, health: Health) -> None:
        self.container.healthcheck = HealthConfig(
            Test=list(health.test),
            Interval=health.interval_ns or None,
            Timeout=health.timeout_ns or None,
            StartPeriod=health.start_period_ns or None,
            StartInterval=health.start_interval_ns or None,
            Retries=health.retries or None,
        )
        text = (
            f"{{Test:{gofmt.plain_list(health.test)} Interval:{gofmt.duration(health.interval_ns)} "
            f"Timeout:{gofmt.duration(health.timeout_ns)} "
            f"StartPeriod:{gofmt.duration(health.start_period_ns)} "
            f"StartInterval:{gofmt.duration(health.start_interval_ns)} Retries:{health.retries}}}"
        )
        self.commit(f"HEALTHCHECK {text}", layer=False)

    def expose(self, ports: list[str]) -> None:
        specs = [spec for port in ports for spec in parse_port_spec(port)]
        exposed = dict(self.container.exposed_ports or {})
        for spec in specs:
            exposed[spec] = {}
        self.container.exposed_ports = exposed
        self.commit(f"EXPOSE {gofmt.plain_list(specs)}", layer=False)

    def set_user(self, user: str) -> None:
        self.container.user = user
        self.commit(f"USER {user}", layer=False)

    def add_volumes(self, paths: list[str]) -> None:
        volumes = dict(self.container.volumes or {})
        for path in paths:
            if not path:
                raise BuildError("VOLUME specified can not be an empty string")
            volumes[path] = {}
        self.container.volumes = volumes
        self.commit(f"VOLUME {gofmt.plain_list(paths)}", layer=False)

    def set_stop_signal(self, sig: str) -> None:
        check_signal(sig)
        self.container.stop_signal = sig
        self.commit(f"STOPSIGNAL {sig}", layer=False)

    def set_shell(self, shell: list[str]) -> None:
        self.container.shell = list(shell)
        self.commit(f"SHELL {gofmt.plain_list(shell)}", layer=False)

    def add_onbuild(self, expression: str) -> None:
        self.container.on_build = [*(self.container.on_build or []), expression]

    def set_workdir(self, path: str) -> str:
        """Sets WorkingDir (relative paths join the current one) and returns it; the caller
        creates the directory and commits the history entry with or without a layer."""
        wd = normalize_workdir(self.workdir if self.container.working_dir else "/", path)
        self.container.working_dir = wd
        return wd

    def finalize(self, platform: Platform) -> None:
        """The image's own platform fields are the target's; `created` the last step's."""
        self.config.architecture = platform.architecture
        self.config.os = platform.os
        self.config.variant = platform.variant
        history = self.config.history or []
        self.config.created = history[-1].created if history else format_created(
            self.epoch or datetime.now(timezone.utc)
        )


def normalize_workdir(current: str, path: str) -> str:
    if not path.startswith("/"):
        path = posixpath.join(current or "/", path)
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned != "/" else "/"


def run_created_by(argv: list[str], build_args: list[tuple[str, str]], env: dict[str, str]) -> str:
    """`RUN |2 A=1 B=2 /bin/sh -c make` as BuildKit's runCommandString writes it."""
    pairs = [f"{k}={env.get(k, v)}" for k, v in build_args]
    prefix = [f"|{len(pairs)}", *pairs] if pairs else []
    return "RUN " + " ".join(prefix + list(argv))


def parse_port_spec(text: str) -> list[str]:
    """`[ip:][hostport:]port[-end][/proto]` -> ["port/proto", ...] as nat.ParsePortSpecs."""
    spec, _, proto = text.partition("/")
    proto = (proto or "tcp").lower()
    port = spec.rsplit(":", 1)[-1]
    start, _, end = port.partition("-")
    try:
        first = int(start)
        last = int(end) if end else first
    except ValueError:
        raise BuildError(f"invalid port {text!r}: not a number or range") from None
    if proto not in ("tcp", "udp", "sctp") or not 0 <= first <= last <= 65535:
        raise BuildError(f"invalid port {text!r}")
    return [f"{p}/{proto}" for p in range(first, last + 1)]


def check_signal(sig: str) -> None:
    name = sig.upper().removeprefix("SIG")
    if sig.isdigit():
        if not 0 < int(sig) < 65:
            raise BuildError(f"invalid signal: {sig}")
        return
    if name.startswith("RTMIN") or name.startswith("RTMAX") or hasattr(signal, "SIG" + name):
        return
    raise BuildError(f"invalid signal: {sig}")


def _split_env(entry: str) -> tuple[str, str]:
    key, _, value = entry.partition("=")
    return key, value


def _add_env(env: list[str], key: str, value: str) -> list[str]:
    out = list(env)
    for i, entry in enumerate(out):
        if _split_env(entry)[0] == key:
            out[i] = f"{key}={value}"
            return out
    out.append(f"{key}={value}")
    return out
