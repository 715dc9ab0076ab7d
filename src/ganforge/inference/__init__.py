"""Batched, device-placed evaluation of a network: the runner under the metrics and the tools."""
