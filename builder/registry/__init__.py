"""Distribution-spec registry client on httpx."""

from builder.registry.options import Credential, RegistryOptions, RetryPolicy

__all__ = ["Credential", "RegistryOptions", "RetryPolicy"]
