"""Lambda packaging without Docker: the code asset and the dependencies layer.

No Docker engine exists on the build machines or in CI, so both assets are produced by CDK
*local* bundling (``ILocalBundling``). The dependencies layer is ``pip install`` of
``lambdas/requirements.txt`` for Lambda's arm64 Python (manylinux wheels only, never a local
build), cached under ``build/`` keyed by the requirements' hash and the target Python, so a
repeated ``cdk synth`` copies a directory instead of reinstalling.

``bundle=False`` (the tests) skips all of this: the code asset is the plain ``lambdas/``
directory and the layer an empty placeholder directory, so a test session never runs pip.
"""

from __future__ import annotations

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
PIP_PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
# Never run: local bundling always succeeds or raises. CDK requires an image to be named.
_NO_DOCKER = DockerImage.from_registry("unused-local-bundling-only")
_CODE_EXCLUDES = ("requirements.txt", "__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache")


def python_version(runtime: lambda_.Runtime = RUNTIME) -> str:
    """``python3.13`` -> ``3.13`` (what ``pip --python-version`` expects)."""
    return runtime.name.removeprefix("python")


def requirements_hash(requirements: Path = REQUIREMENTS, version: str | None = None) -> str:
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(f"|{version or python_version()}|{','.join(PIP_PLATFORMS)}".encode())
    return digest.hexdigest()[:16]


def _copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*_CODE_EXCLUDES))


@jsii.implements(ILocalBundling)
class LayerBundler:
    """Builds ``<out>/python`` with pip for Lambda's platform, through a cache under ``build/``."""

    def __init__(self, requirements: Path = REQUIREMENTS, cache_root: Path = BUILD_ROOT) -> None:
        self.requirements = requirements
        self.cache_root = cache_root

    @property
    def cache_dir(self) -> Path:
        return self.cache_root / f"layer-{requirements_hash(self.requirements)}"

    def build(self) -> Path:
        """The cached layer directory, built once per requirements hash (atomically renamed into place)."""
        target = self.cache_dir
        if (target / "python").is_dir():
            return target
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
        for platform in PIP_PLATFORMS:
            command += ["--platform", platform]
        try:
            subprocess.run(command, check=True, env={**os.environ, "PIP_NO_INPUT": "1"})
            for cache in (staging / "python").rglob("__pycache__"):
                shutil.rmtree(cache, ignore_errors=True)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    def try_bundle(self, output_dir: str, options: Any = None, **_: Any) -> bool:
        _copy_tree(self.build(), Path(output_dir))
        return True


@jsii.implements(ILocalBundling)
class CodeBundler:
    """Copies ``lambdas/`` (and, for the migration function, ``redshift_schema/``) into the asset."""

    def __init__(self, *, include_schema: bool) -> None:
        self.include_schema = include_schema

    def try_bundle(self, output_dir: str, options: Any = None, **_: Any) -> bool:
        out = Path(output_dir)
        _copy_tree(LAMBDA_ROOT, out)
        if self.include_schema:
            _copy_tree(SCHEMA_ROOT, out / SCHEMA_ROOT.name)
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
            # The command is never run; it keeps the two variants apart in CDK's bundling cache, which
            # is keyed by the source path and the bundling options (the local bundler is opaque to it).
            bundling=BundlingOptions(
                image=_NO_DOCKER,
                local=CodeBundler(include_schema=include_schema),
                command=["local-bundling", "lambdas+redshift_schema" if include_schema else "lambdas"],
            ),
        )

    def dependencies_layer(self, scope: Construct, id: str) -> lambda_.LayerVersion:
        if self.bundle:
            code = lambda_.Code.from_asset(
                str(LAMBDA_ROOT),
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=requirements_hash(),
                bundling=BundlingOptions(image=_NO_DOCKER, local=LayerBundler(), command=["local-bundling", "layer"]),
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
