"""Raw data: built-in generators, loaders for real files, and content-addressed snapshots."""
