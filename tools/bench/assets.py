"""Deployment asset sizes: the code asset of each function and the dependencies layer.

The code asset is packaged here by ``stacks.bundling.CodeBundler`` itself (``lambdas/`` without
caches and requirements, with the runtime Python's ``.pyc`` of every module; the migration function
adds ``redshift_schema/``), zipped with deflate as the CDK does, so the size is what is uploaded.
The layer is read from the infrastructure's build cache (``build/layer-<requirements hash>/python``,
with its ``.pyc``); it is never built here, because that is a pip install for Lambda's platform that
takes minutes: when absent the figure says "not built" (``make synth`` builds it).
"""

from __future__ import annotations

import fnmatch
import io
import os
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from stacks.bundling import _CODE_EXCLUDES, CodeBundler, LayerBundler
from tools.bench.report import Figure

BENCH = "assets"
# Lambda's limit on a function plus its layers, unzipped.
UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024


def _files(root: Path, prefix: str = "", excludes: Sequence[str] = _CODE_EXCLUDES) -> list[tuple[Path, str]]:
    out = []
    for directory, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not any(fnmatch.fnmatch(d, p) for p in excludes))
        for name in sorted(names):
            if any(fnmatch.fnmatch(name, p) for p in excludes):
                continue
            path = Path(directory) / name
            out.append((path, prefix + str(path.relative_to(root))))
    return out


def zipped(files: list[tuple[Path, str]]) -> tuple[int, int]:
    """(zip bytes, unzipped bytes) of the files, deflated as an asset upload is."""
    buffer = io.BytesIO()
    unzipped = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path, arcname in files:
            archive.write(path, arcname)
            unzipped += path.stat().st_size
    return len(buffer.getvalue()), unzipped


def _bundled(root: Path, *, include_schema: bool) -> list[tuple[Path, str]]:
    CodeBundler(include_schema=include_schema).try_bundle(str(root))
    return _files(root, excludes=())


def run(cache_root: Path | None = None) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="risk-bench-assets-") as tmp:
        code = _bundled(Path(tmp) / "code", include_schema=False)
        code_zip, code_raw = zipped(code)
        migrate_zip, _ = zipped(_bundled(Path(tmp) / "migrate", include_schema=True))
    figures = [
        Figure(BENCH, f"code asset parse/score/load (zip, {len(code)} files with .pyc)", code_zip / 1024, "KiB"),
        Figure(BENCH, "code asset migrate (zip, with redshift_schema/)", migrate_zip / 1024, "KiB"),
    ]
    bundler = LayerBundler() if cache_root is None else LayerBundler(cache_root=cache_root)
    layer_dir = bundler.cache_dir / "python"
    if not layer_dir.is_dir():
        figures.append(Figure(BENCH, f"dependencies layer: not built ({bundler.cache_dir.name})", 0.0, "n/a"))
        return figures
    layer_zip, layer_raw = zipped(_files(layer_dir, "python/", excludes=()))
    total = layer_raw + code_raw
    figures += [
        Figure(BENCH, "dependencies layer (zip)", layer_zip / 1024 / 1024, "MiB"),
        Figure(
            BENCH,
            "function + layer unzipped",
            total / 1024 / 1024,
            "MiB",
            "Lambda limit 250 MiB",
            total / UNZIPPED_LIMIT_BYTES,
            "<= 1x",
            total <= UNZIPPED_LIMIT_BYTES,
        ),
    ]
    return figures
