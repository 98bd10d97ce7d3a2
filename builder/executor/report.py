"""What a build did, step by step: the record behind --metadata-file, --json-result and
the cache tests (which assert on `cached`/`ran` per step, never on timing)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from builder.oci.models import Descriptor, ImageConfig, Platform


class StepReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    stage: str
    index: int
    """1-based position of the step in its stage, as in `[stage 2/5]`."""
    instruction: str
    cached: bool = False
    duration_s: float
    layer: str | None = None
    """Digest of the layer the step added (None for metadata-only steps)."""
    cache_key: str | None = None

    @property
    def ran(self) -> bool:
        return not self.cached


class BuildReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    platform: Platform
    manifest: Descriptor
    config_digest: str
    config_size: int | None = None
    """Bytes of the config blob (None in reports of versions that did not record it)."""
    config: ImageConfig | None = Field(default=None, exclude=True, repr=False)
    """The image config, for callers in this process (builder.build); not in the JSON files."""
    layers: list[Descriptor] = []
    destinations: list[str] = []
    steps: list[StepReport] = []
    attestations: list[Descriptor] = []
    """What was attached: artifact manifests whose subject is the image (--attest-format oci)
    or BuildKit attestation manifests as an index lists them (buildkit)."""
    duration_s: float
