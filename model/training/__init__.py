"""Training property models: configuration, splits, normalisation, the loop, the artifact."""
