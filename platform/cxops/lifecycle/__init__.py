"""The steps of a model's lifecycle as plain functions: the KFP components in `pipelines/` call these.

Each step takes paths and names, does one thing, and returns a small summary, so a step runs the same
inside a `kfp.local` subprocess, in a cluster pod, or in a test.
"""
