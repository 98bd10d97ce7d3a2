"""Distribution-spec registry client on httpx."""

from builder.registry.client import MANIFEST_ACCEPT, RegistryClient
from builder.registry.options import Credential, RegistryOptions, RetryPolicy

__all__ = ["MANIFEST_ACCEPT", "Credential", "RegistryClient", "RegistryOptions", "RetryPolicy"]
