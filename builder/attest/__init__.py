"""Attestations of a built image (issue 17): in-toto statements (SLSA provenance, SBOMs) stored
as OCI artifacts whose `subject` is the platform image.

Importing the package imports nothing heavy; each producer (provenance, SBOM, signing) loads
its libraries only when a build asks for it.
"""
