"""Lambda packaging without Docker: the code asset and the dependencies layer.

No Docker engine exists on the build machines or in CI, so both assets are produced by CDK
*local* bundling (``ILocalBundling``). The dependencies layer is ``pip install`` of
``lambdas/requirements.txt`` for Lambda's arm64 Python (manylinux wheels only, never a local
build), cached under ``build/`` keyed by the requirements' hash and the target Python, so a
repeated ``cdk synth`` copies a directory instead of reinstalling.

Both assets ship bytecode compiled by the functions' own Python (cdk.json ``lambda_runtime``, found
on this machine by ``stacks.runtime_python``): ``/var/task`` and ``/opt`` are read-only in Lambda,
so without ``__pycache__`` every cold start compiles every module it imports. The ``.pyc`` are
*unchecked-hash* ones: the runtime loads them without comparing them to the source's mtime, which
zip extraction does not keep exactly. Their embedded paths are the deployed ones (``/var/task``,
``/opt/python``) and the hash seed is fixed, so the same sources give the same bytes (asset hashes
stay stable across checkouts).

``bundle=False`` (the tests) skips all of this: the code asset is the plain ``lambdas/``
directory and the layer an empty placeholder directory, so a test session never runs pip.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.config import REPO_ROOT, ConfigError, lambda_runtime
from stacks.runtime_python import MissingInterpreter, find_interpreter

LAMBDA_ROOT = REPO_ROOT / "lambdas"
SCHEMA_ROOT = REPO_ROOT / "redshift_schema"
REQUIREMENTS = LAMBDA_ROOT / "requirements.txt"
BUILD_ROOT = REPO_ROOT / "build"


def _known_runtime(name: str) -> lambda_.Runtime:
    """The CDK's own Runtime object for cdk.json's ``lambda_runtime`` (one aws-cdk-lib knows)."""
    for runtime in lambda_.Runtime.ALL:
        if runtime.name == name:
            return runtime
    raise ConfigError(f"lambda_runtime: {name!r} is not a Lambda runtime aws-cdk-lib knows")


# cdk.json's lambda_runtime: the functions run on it and the layer is built for the same version.
RUNTIME = _known_runtime(lambda_runtime())
ARCHITECTURE = lambda_.Architecture.ARM_64
LAMBDA_MACHINE = "aarch64"
# Where Lambda unpacks each asset: the paths the bytecode names (tracebacks, co_filename).
TASK_ROOT = "/var/task"
LAYER_ROOT = "/opt"
# In the layer's cache key: a layer built with another bytecode policy is another layer.
BYTECODE = "pyc:unchecked-hash"
# Never run: local bundling always succeeds or raises. CDK requires an image to be named.
_NO_DOCKER = DockerImage.from_registry("unused-local-bundling-only")
_CODE_EXCLUDES = ("requirements.txt", "__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache")


def python_version(runtime: lambda_.Runtime = RUNTIME) -> str:
    """``python3.13`` -> ``3.13`` (what ``pip --python-version`` expects)."""
    return runtime.name.removeprefix("python")


def pip_platforms(machine: str = LAMBDA_MACHINE) -> tuple[str, ...]:
    """manylinux wheel tags of a CPU: Lambda's arm64 for the deployed layer; the host's for the bench."""
    return (f"manylinux2014_{machine}", f"manylinux_2_28_{machine}")


PIP_PLATFORMS = pip_platforms()


def requirements_hash(
    requirements: Path = REQUIREMENTS, version: str | None = None, platforms: tuple[str, ...] = PIP_PLATFORMS
) -> str:
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(f"|{version or python_version()}|{','.join(platforms)}|{BYTECODE}".encode())
    return digest.hexdigest()[:16]


class BundlingError(RuntimeError):
    """The runtime's Python could not compile a file of an asset (one line naming it)."""


@functools.cache
def runtime_python(version: str | None = None) -> Path:
    """The interpreter that compiles the assets' bytecode; a ConfigError in one line when absent."""
    version = version or python_version()
    try:
        return find_interpreter(version)
    except MissingInterpreter as missing:
        raise ConfigError(f"{missing} (the assets ship bytecode compiled by it)") from None


def compile_bytecode(root: Path, deployed_at: str, python: Path) -> None:
    """Write ``__pycache__/*.cpython-3XX.pyc`` beside every module under ``root``, as ``python`` reads them.

    Unchecked-hash pycs (never revalidated against the source, so zip mtimes do not matter), paths
    rewritten from ``root`` to ``deployed_at`` and a fixed hash seed (frozenset constants), so the
    output is byte-for-byte reproducible.
    """
    command = [str(python), "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
    command += ["-s", str(root), "-p", deployed_at, str(root)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("PYTHONPYCACHEPREFIX", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        first = next((line for line in lines if line.startswith("*** Error compiling")), lines[0] if lines else "")
        raise BundlingError(f"{python} could not compile the asset's bytecode under {root}: {first}")


def _copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*_CODE_EXCLUDES))


@jsii.implements(ILocalBundling)
class LayerBundler:
    """Builds ``<out>/python`` with pip for Lambda's platform, through a cache under ``build/``.

    ``machine`` is Lambda's ``aarch64`` for the deployed layer; the cold-start benchmark builds the
    same layer for the host's CPU (the native wheels must load here) through the same steps.
    """

    def __init__(
        self,
        requirements: Path = REQUIREMENTS,
        cache_root: Path = BUILD_ROOT,
        *,
        machine: str = LAMBDA_MACHINE,
        python: Path | None = None,
    ) -> None:
        self.requirements = requirements
        self.cache_root = cache_root
        self.platforms = pip_platforms(machine)
        self.python = python

    @property
    def cache_dir(self) -> Path:
        name = f"layer-{requirements_hash(self.requirements, platforms=self.platforms)}"
        return self.cache_root / name

    def build(self) -> Path:
        """The cached layer directory, built once per requirements hash (atomically renamed into place)."""
        target = self.cache_dir
        if (target / "python").is_dir():
            return target
        python = self.python or runtime_python()
        self.cache_root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="layer-", dir=self.cache_root))
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "-r",
            str(self.requirements),
            "--only-binary=:all:",
            "--python-version",
            python_version(),
            "--implementation",
            "cp",
            "--target",
            str(staging / "python"),
        ]
        for platform in self.platforms:
            command += ["--platform", platform]
        try:
            subprocess.run(command, check=True, env={**os.environ, "PIP_NO_INPUT": "1"})
            for cache in (staging / "python").rglob("__pycache__"):
                shutil.rmtree(cache, ignore_errors=True)
            compile_bytecode(staging, LAYER_ROOT, python)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    def try_bundle(self, output_dir: str, options: Any = None, **_: Any) -> bool:
        shutil.copytree(self.build(), Path(output_dir), dirs_exist_ok=True)  # with its __pycache__
        return True


@jsii.implements(ILocalBundling)
class CodeBundler:
    """Copies ``lambdas/`` (and, for the migration function, ``redshift_schema/``) into the asset,
    with the runtime Python's bytecode of every module."""

    def __init__(self, *, include_schema: bool, python: Path | None = None) -> None:
        self.include_schema = include_schema
        self.python = python

    def try_bundle(self, output_dir: str, options: Any = None, **_: Any) -> bool:
        out = Path(output_dir)
        _copy_tree(LAMBDA_ROOT, out)
        if self.include_schema:
            _copy_tree(SCHEMA_ROOT, out / SCHEMA_ROOT.name)
        compile_bytecode(out, TASK_ROOT, self.python or runtime_python())
        return True


@dataclass(frozen=True)
class Packaging:
    """How one app packages its functions; ``bundle=False`` for fast, pip-free test synths."""

    bundle: bool

    def code(self, *, include_schema: bool = False) -> lambda_.Code:
        if not self.bundle:
            return lambda_.Code.from_asset(str(LAMBDA_ROOT), exclude=list(_CODE_EXCLUDES))
        return lambda_.Code.from_asset(
            str(LAMBDA_ROOT),
            asset_hash_type=AssetHashType.OUTPUT,
            # The command is never run; it keeps the two variants (and bytecode policies) apart in CDK's
            # bundling cache, keyed by the source path and the bundling options (the local bundler is opaque).
            bundling=BundlingOptions(
                image=_NO_DOCKER,
                local=CodeBundler(include_schema=include_schema, python=runtime_python()),
                command=["local-bundling", "lambdas+redshift_schema" if include_schema else "lambdas", BYTECODE],
            ),
        )

    def dependencies_layer(self, scope: Construct, id: str) -> lambda_.LayerVersion:
        if self.bundle:
            code = lambda_.Code.from_asset(
                str(LAMBDA_ROOT),
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=requirements_hash(),
                bundling=BundlingOptions(
                    image=_NO_DOCKER,
                    local=LayerBundler(python=runtime_python()),
                    command=["local-bundling", "layer", BYTECODE],
                ),
            )
        else:
            placeholder = BUILD_ROOT / "layer-placeholder" / "python"
            placeholder.mkdir(parents=True, exist_ok=True)
            code = lambda_.Code.from_asset(str(placeholder.parent))
        return lambda_.LayerVersion(
            scope,
            id,
            code=code,
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=f"Pinned dependencies of the risk functions (lambdas/requirements.txt, {RUNTIME.name} arm64)",
        )
