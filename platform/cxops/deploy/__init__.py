"""Kubernetes delivery: the Helm chart's values from the model specs and the registry, rendering with
Helm's own engine, and offline validation of every manifest against the real schemas."""
