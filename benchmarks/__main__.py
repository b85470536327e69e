"""``python -m benchmarks [--quick] [--json | --markdown] [--only B1,B2,...] [--out FILE]``"""

import sys

from benchmarks.suite import main

sys.exit(main())
