"""Canary releases: route a share of traffic to a candidate model version and watch it."""
