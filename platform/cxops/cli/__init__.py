"""The `cxops` command line."""
