"""Rebuild the embedded zoo: ``python -m zoobuild.build`` from any folder (see :mod:`zoobuild.build`).

Usage: ``python scripts/build_zoo.py [--stages pretrain,install,...] [--minutes 55]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # zoobuild/ sits at the repository root

from zoobuild.build import main  # noqa: E402

if __name__ == "__main__":
    main()
