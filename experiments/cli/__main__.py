"""``python -m fusiongym.experiments.cli``: the same entry point as the ``fusiongym`` script."""
import sys

from fusiongym.experiments.cli import main

sys.exit(main())
