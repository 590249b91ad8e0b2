"""`python -m compliance.cli`."""

from __future__ import annotations

import sys

from compliance.cli import main

sys.exit(main())
