"""`python -m cxops_drift`: the drift monitor's command line."""

from cxops_drift.cli import main

raise SystemExit(main())
