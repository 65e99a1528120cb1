"""Developer tools: the labelled event generator, model training, local runs and benchmarks.

``lambdas/`` is the root of the Lambda code (``risk.*``). It goes on ``sys.path`` here so that
``python -m tools.riskctl`` (and every other ``python -m tools...``) works from the repository
root without ``PYTHONPATH``; the installed ``riskctl`` script maps ``risk`` there itself.
"""

import sys
from pathlib import Path

_LAMBDAS = str(Path(__file__).resolve().parent.parent / "lambdas")
if Path(_LAMBDAS).is_dir() and _LAMBDAS not in sys.path:
    sys.path.append(_LAMBDAS)
