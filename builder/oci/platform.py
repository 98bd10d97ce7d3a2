"""Platform strings (`os/arch[/variant]`) parsed, normalised and matched as containerd does.

Normalisation makes equal what runs the same: `linux/arm64/v8` == `linux/arm64`,
`linux/arm` == `linux/arm/v7`, `x86_64` == `amd64`, `aarch64` == `arm64`.
Matching picks an index entry a wanted platform can run: the same os and architecture,
and a variant the wanted one can execute (arm/v7 runs v6 and v5; amd64/v3 runs v2 and v1).
Unlike containerd's default matcher we never fall back across architectures (arm64 to
arm/v7, amd64 to 386): a builder asked for arm64 must not quietly produce an arm image.
"""

from __future__ import annotations

import platform as _host
import re
from collections.abc import Sequence

from builder.errors import PlatformError
from builder.oci.models import Descriptor, ImageIndex, Platform

_COMPONENT = re.compile(r"^[a-z0-9_.-]+$")
_OS_WITH_VERSION = re.compile(r"^([A-Za-z0-9_.-]+)\(([A-Za-z0-9_.-]+)\)$")

KNOWN_OS = frozenset(
    {
        "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js",
        "linux", "nacl", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos",
    }
)  # fmt: skip
KNOWN_ARCH = frozenset(
    {
        "386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le",
        "loong64", "mips", "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc",
        "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm",
    }
)  # fmt: skip

_ARCH_ALIASES = {
    "i386": ("386", None),
    "x86_64": ("amd64", None),
    "x86-64": ("amd64", None),
    "aarch64": ("arm64", None),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
}


def normalize_os(os_name: str) -> str:
    os_name = os_name.lower()
    return "darwin" if os_name == "macos" else os_name


def normalize_arch(arch: str, variant: str | None) -> tuple[str, str | None]:
    """containerd's normalizeArch: canonical architecture and variant (None when implied)."""
    arch = arch.lower()
    variant = variant.lower() if variant else None
    if arch in _ARCH_ALIASES:
        arch, implied = _ARCH_ALIASES[arch]
        variant = implied or variant
    if arch == "386":
        return arch, None
    if arch == "amd64":
        return arch, None if variant in (None, "v1") else variant
    if arch == "arm64":
        return arch, None if variant in (None, "8", "v8", "v8.0") else variant
    if arch == "arm":
        if variant is None or variant == "7":
            return arch, "v7"
        if variant in ("5", "6", "8"):
            return arch, "v" + variant
    return arch, variant


def parse_platform(text: str) -> Platform:
    """`os[/arch[/variant]]` or a bare architecture, normalised. Raises PlatformError."""
    spec = text.strip()
    parts = spec.split("/")
    if not spec or len(parts) > 3:
        raise PlatformError(
            f"invalid platform {text!r}: expected os/arch[/variant], e.g. linux/arm64"
        )
    os_version = None
    if match := _OS_WITH_VERSION.match(parts[0]):
        parts[0], os_version = match.group(1), match.group(2)
    parts = [part.lower() for part in parts]
    for part in parts:
        if not _COMPONENT.match(part):
            raise PlatformError(
                f"invalid platform {text!r}: {part or 'an empty component'!r} is not a valid "
                "os, architecture or variant"
            )
    if len(parts) == 1:
        return _parse_single(text, parts[0])
    os_name = normalize_os(parts[0])
    arch, variant = normalize_arch(parts[1], parts[2] if len(parts) == 3 else None)
    if os_name not in KNOWN_OS:
        raise PlatformError(
            f"invalid platform {text!r}: unknown operating system {os_name!r}",
            hint="platforms look like linux/amd64, linux/arm64, linux/arm/v7",
        )
    if arch not in KNOWN_ARCH:
        raise PlatformError(
            f"invalid platform {text!r}: unknown architecture {arch!r}",
            hint="platforms look like linux/amd64, linux/arm64, linux/arm/v7",
        )
    return _make(os_name, arch, variant, os_version)


def _parse_single(text: str, word: str) -> Platform:
    os_name = normalize_os(word)
    host = host_platform()
    if os_name in KNOWN_OS:
        return _make(os_name, host.architecture, host.variant)
    arch, variant = normalize_arch(word, None)
    if arch in KNOWN_ARCH:
        return _make(host.os, arch, variant)
    raise PlatformError(
        f"invalid platform {text!r}: unknown operating system or architecture",
        hint="platforms look like linux/amd64, linux/arm64, linux/arm/v7",
    )


def _make(os_name: str, arch: str, variant: str | None, os_version: str | None = None) -> Platform:
    fields = {"os": os_name, "architecture": arch, "variant": variant}
    return Platform.model_validate(fields | ({"os.version": os_version} if os_version else {}))


def normalize(p: Platform) -> Platform:
    """The canonical form of a platform read from a manifest or config."""
    arch, variant = normalize_arch(p.architecture, p.variant)
    return p.model_copy(update={"os": normalize_os(p.os), "architecture": arch, "variant": variant})


def format_platform(p: Platform) -> str:
    """`os/arch[/variant]` of the normalised platform; parse_platform reads it back."""
    n = normalize(p)
    os_part = f"{n.os}({n.os_version})" if n.os_version else n.os
    return "/".join([os_part, n.architecture] + ([n.variant] if n.variant else []))


_HOST_MACHINES = {"armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"), "armv5tel": ("arm", "v5")}


def host_platform() -> Platform:
    """The platform this process runs on."""
    machine = _host.machine().lower()
    arch, variant = _HOST_MACHINES.get(machine) or normalize_arch(machine, None)
    return _make(normalize_os(_host.system() or "linux"), arch, variant)


def _variant_level(variant: str | None, default: int) -> int | None:
    if variant is None:
        return default
    if re.fullmatch(r"v\d+", variant):
        return int(variant[1:])
    return None


def _runnable_variants(want: Platform) -> list[str | None]:
    """Variants of want's architecture that want can run, best first."""
    if want.architecture == "arm":
        level = _variant_level(want.variant, 7)
        if level is not None:
            return [f"v{v}" for v in range(level, 4, -1)]
    if want.architecture == "amd64":
        level = _variant_level(want.variant, 1)
        if level is not None:
            return [f"v{v}" if v > 1 else None for v in range(level, 0, -1)]
    return [want.variant]


def _rank(want: Platform, have: Platform) -> int | None:
    """0 for an exact match, higher for a worse fallback, None when `have` cannot run."""
    w, h = normalize(want), normalize(have)
    if w.os != h.os or w.architecture != h.architecture:
        return None
    if w.os_version and h.os_version and w.os_version != h.os_version:
        return None
    variants = _runnable_variants(w)
    return variants.index(h.variant) if h.variant in variants else None


def platform_matches(want: Platform, have: Platform) -> bool:
    """Whether an image built for `have` runs where `want` is asked for."""
    return _rank(want, have) is not None


def select_manifest(index: ImageIndex, want: Platform) -> Descriptor:
    """The index entry that best fits `want`: exact variant first, then older compatible ones."""
    best: tuple[int, int, Descriptor] | None = None
    for position, entry in enumerate(index.manifests):
        if entry.platform is None:
            continue
        rank = _rank(want, entry.platform)
        if rank is not None and (best is None or (rank, position) < best[:2]):
            best = (rank, position, entry)
    if best is None:
        raise PlatformError(
            f"no image for platform {format_platform(want)} in the index; "
            f"available: {describe_platforms(index.manifests)}",
            hint="choose one of the available platforms with --platform",
        )
    return best[2]


def describe_platforms(entries: Sequence[Descriptor]) -> str:
    names = [format_platform(e.platform) for e in entries if e.platform is not None]
    return ", ".join(names) if names else "none (the index entries have no platform)"
