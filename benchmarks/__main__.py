"""``python -m fusiongym.benchmarks [--quick] [--json | --markdown] [--only B1,B2,...] [--out FILE]``"""

import sys

from fusiongym.benchmarks.suite import main

sys.exit(main())
