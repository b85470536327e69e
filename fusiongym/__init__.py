"""fusiongym: layer fusion, core counts and placements for multi-core VTA-style accelerators.

The repository keeps the project's layers as top-level folders (``accelerator``, ``envs``,
``agents``, ``experiments``, ``benchmarks``); they are installed as subpackages of this one
package (``pyproject.toml`` maps each folder to ``fusiongym.<folder>``), so a user's own
``agents`` or ``envs`` never clash with ours. In a source checkout that is not installed
(``PYTHONPATH=.``), the folders sit beside this package instead of inside it, so the
repository root is added to where Python looks for its subpackages.
"""

from __future__ import annotations

import os as _os

_HERE = _os.path.dirname(_os.path.abspath(__file__))
_ROOT = _os.path.dirname(_HERE)
if (not _os.path.isdir(_os.path.join(_HERE, "accelerator"))
        and _os.path.isfile(_os.path.join(_ROOT, "accelerator", "__init__.py"))):
    __path__.append(_ROOT)  # noqa: F821  (a package's __path__ is set by the import system)
