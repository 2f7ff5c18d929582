"""``python -m analysis.report``: build the report of one or more experiment folders."""

import sys

from analysis.report.build import main

sys.exit(main())
