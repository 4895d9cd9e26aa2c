"""ARCHITECTURE.md's plugin examples run as written, and each makes its name a choice at once.

The examples are executed in a fresh interpreter (registering them here would add entries to the
tables other tests read).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHECK = textwrap.dedent('''
    from promptkit.backbone import BACKBONES
    from promptkit.data.catalog import DATASETS
    from promptkit.inits import INITS
    from promptkit.runs import METHODS, weight_methods
    from promptkit.scores import SCORES

    assert "softmax-scores" in METHODS and "softmax-scores" in weight_methods()
    assert "zeros" in INITS and "nce-like" in SCORES
    assert "flowers102" in DATASETS and "my-vit" in BACKBONES
    feats = [torch.randn(30, 4, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    labels = torch.arange(30) % 3
    from promptkit.ensemble import ensemble_weights
    alpha = ensemble_weights("softmax-scores", feats, labels).alpha
    assert abs(float(alpha.sum()) - 1) < 1e-9
    print("ok")
''')


def python_blocks(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"```python\n(.*?)```", text, flags=re.S)]


def test_the_plugin_examples_run_and_register():
    blocks = python_blocks((ROOT / "ARCHITECTURE.md").read_text())
    assert len(blocks) >= 5  # weight method, init, score, dataset, backbone
    script = "import torch\n" + "\n".join(blocks) + CHECK
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]
