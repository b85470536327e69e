"""``python -m experiments.cli``: the same entry point as the ``fusiongym`` script."""
import sys

from experiments.cli import main

sys.exit(main())
