"""The coordinator: one build per platform, then a multi-arch index under every tag."""
