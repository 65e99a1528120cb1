"""Local bundling: the code asset's contents and the cached dependencies layer (no pip run here).

The bytecode checks run the functions' own Python (cdk.json ``lambda_runtime``, as ``make
test-runtime`` finds it): it alone says which ``.pyc`` it reads and whether it would compile a module.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from stacks import bundling
from stacks.bundling import (
    RUNTIME,
    BundlingError,
    CodeBundler,
    LayerBundler,
    compile_bytecode,
    python_version,
    requirements_hash,
    runtime_python,
)
from stacks.config import ConfigError, lambda_python_version, lambda_runtime

_REAL_RUN = subprocess.run
# Zip extraction gives sources an mtime of its own (2-second resolution, local time): a pyc that
# checked the source's mtime would be stale; an unchecked-hash one is read anyway.
_ZIP_MTIME = 315_532_800  # 1980-01-01, the earliest a zip entry can say

# Run by the runtime's Python over one asset root: for every module under it, asks importlib's own
# source loader for the code object, with source compilation recorded and no .pyc written; then
# imports the given modules for real. Prints the compiled paths, the magic, the cache tag and the
# path each .pyc names as its source, as JSON.
_PROBE = r"""
import importlib._bootstrap_external as be, importlib.util, json, marshal, pathlib, sys
sys.dont_write_bytecode = True
root, imports = pathlib.Path(sys.argv[1]), sys.argv[2:]
compiled = []
original = be.SourceLoader.source_to_code
def recording(self, data, path, *args, **kwargs):
    if str(path).startswith(str(root)):
        compiled.append(str(pathlib.Path(path).relative_to(root)))
    return original(self, data, path, *args, **kwargs)
be.SourceLoader.source_to_code = recording
filenames = {}
for source in sorted(root.rglob("*.py")):
    name = ".".join(source.relative_to(root).with_suffix("").parts)
    be.SourceFileLoader(name, str(source)).get_code(name)
    pyc = pathlib.Path(be.cache_from_source(str(source)))
    if pyc.is_file():  # the path written into the bytecode (importlib rewrites it to where it loads from)
        filenames[str(source.relative_to(root))] = marshal.loads(pyc.read_bytes()[16:]).co_filename
sys.path.insert(0, str(root))
for module in imports:
    __import__(module)
print(json.dumps({"compiled": compiled, "magic": importlib.util.MAGIC_NUMBER.hex(),
                  "tag": sys.implementation.cache_tag, "filenames": filenames}))
"""


def runtime_probe(root: Path, imports: Iterable[str] = ()) -> dict[str, Any]:
    """What the runtime's Python does when it loads every module under ``root`` (see ``_PROBE``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "PYTHONPYCACHEPREFIX"))}
    out = _REAL_RUN(
        [str(runtime_python()), "-c", _PROBE, str(root), *imports],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def with_zip_mtimes(root: Path) -> None:
    for source in root.rglob("*.py"):
        os.utime(source, (_ZIP_MTIME, _ZIP_MTIME))


def assert_every_module_has_unchecked_hash_bytecode(root: Path, tag: str, magic: str) -> None:
    sources = sorted(root.rglob("*.py"))
    assert sources
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        assert pyc.is_file(), f"no {tag} bytecode for {source.relative_to(root)}"
        header = pyc.read_bytes()[:8]
        assert header[:4].hex() == magic, f"{pyc.name}: written by another Python"
        flags = int.from_bytes(header[4:8], "little")
        assert flags == 0b01, f"{pyc.name}: flags {flags:#b}, expected hash-based and unchecked (0b01)"
    litter = [p for p in root.rglob("*.pyc") if not p.name.endswith(f".{tag}.pyc")]
    assert litter == [], "bytecode of another Python"


def test_functions_and_layer_target_the_runtime_pinned_in_cdk_json() -> None:
    assert RUNTIME.name == lambda_runtime()
    assert python_version() == lambda_python_version()


def test_layer_is_built_by_pip_for_the_runtime_python_on_arm64(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands: list[list[str]] = []

    def fake_pip(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if command[1:4] != ["-m", "pip", "install"]:
            return _REAL_RUN(command, **kwargs)  # the bytecode step runs for real
        commands.append(command)
        Path(command[command.index("--target") + 1]).mkdir(parents=True)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(bundling.subprocess, "run", fake_pip)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("orjson==3.13.0\n")
    LayerBundler(requirements, cache_root=tmp_path / "build").build()
    [command] = commands
    assert command[command.index("--python-version") + 1] == lambda_python_version()
    assert command[command.index("--implementation") + 1] == "cp"
    assert "--only-binary=:all:" in command
    platforms = [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"]
    assert platforms and all(p.endswith("_aarch64") for p in platforms)


def test_requirements_hash_follows_the_file_python_and_platform(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("orjson==3.13.0\n")
    first = requirements_hash(requirements)
    assert requirements_hash(requirements, "3.12") != first
    assert requirements_hash(requirements, platforms=bundling.pip_platforms("x86_64")) != first
    assert LayerBundler(requirements, machine="x86_64").cache_dir != LayerBundler(requirements).cache_dir
    requirements.write_text("orjson==3.13.1\n")
    assert requirements_hash(requirements) != first


def test_layer_is_served_from_the_cache_without_running_pip(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("definitely-not-installable==0.0.0\n")  # pip would fail on this
    bundler = LayerBundler(requirements, cache_root=tmp_path / "build")
    cached = bundler.cache_dir / "python" / "pkg"
    cached.mkdir(parents=True)
    (cached / "__init__.py").write_text("VALUE = 1\n")
    out = tmp_path / "out"
    out.mkdir()
    assert bundler.try_bundle(str(out)) is True
    assert (out / "python" / "pkg" / "__init__.py").read_text() == "VALUE = 1\n"


def test_code_asset_holds_the_package_and_only_the_runtimes_bytecode(tmp_path: Path) -> None:
    out = tmp_path / "code"
    out.mkdir()
    assert CodeBundler(include_schema=False).try_bundle(str(out)) is True
    assert (out / "risk" / "migrate" / "handler.py").is_file()
    assert not (out / "requirements.txt").exists()
    assert not (out / "redshift_schema").exists()
    tag = f"cpython-{lambda_python_version().replace('.', '')}"
    assert {p.name.split(".")[1] for p in out.rglob("*.pyc")} == {tag}
    stale = [p for p in out.rglob("*.pyc") if not (p.parent.parent / f"{p.name.split('.')[0]}.py").is_file()]
    assert stale == []  # no bytecode of a module the asset does not hold


def test_code_asset_bytecode_is_the_runtimes_and_importing_it_compiles_nothing(tmp_path: Path) -> None:
    out = tmp_path / "code"
    out.mkdir()
    CodeBundler(include_schema=True).try_bundle(str(out))
    with_zip_mtimes(out)
    pure = ["risk.events.limits", "risk.events.model", "risk.events.reasons", "risk.common.redact"]
    seen = runtime_probe(out, pure)
    assert seen["tag"] == f"cpython-{lambda_python_version().replace('.', '')}"
    assert_every_module_has_unchecked_hash_bytecode(out, seen["tag"], seen["magic"])
    assert seen["compiled"] == []
    assert seen["filenames"]["risk/score/handler.py"] == "/var/task/risk/score/handler.py"


def test_the_bytecode_probe_sees_a_module_compiled_when_its_pyc_is_missing(tmp_path: Path) -> None:
    out = tmp_path / "code"
    out.mkdir()
    CodeBundler(include_schema=False).try_bundle(str(out))
    tag = f"cpython-{lambda_python_version().replace('.', '')}"
    (out / "risk" / "events" / "__pycache__" / f"limits.{tag}.pyc").unlink()
    compiled = runtime_probe(out, ["risk.events.limits"])["compiled"]
    assert set(compiled) == {"risk/events/limits.py"}  # by the loader check and by the import


def test_bundling_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "deeper" / "b"
    for out in (first, second):
        out.mkdir(parents=True)
        CodeBundler(include_schema=False).try_bundle(str(out))
    files = sorted(p.relative_to(first) for p in first.rglob("*.pyc"))
    assert files == sorted(p.relative_to(second) for p in second.rglob("*.pyc"))
    differing = [str(f) for f in files if (first / f).read_bytes() != (second / f).read_bytes()]
    assert differing == []  # so the asset hash (AssetHashType.OUTPUT) does not depend on the checkout


def test_layer_ships_the_runtimes_bytecode_and_importing_it_compiles_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_pip(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if command[1:4] != ["-m", "pip", "install"]:
            return _REAL_RUN(command, **kwargs)
        package = Path(command[command.index("--target") + 1]) / "dep"
        (package / "__pycache__").mkdir(parents=True)
        (package / "__init__.py").write_text("from dep.core import VALUE\n")
        (package / "core.py").write_text("VALUE = {'a', 'b'}\n")
        (package / "__pycache__" / "core.cpython-311.pyc").write_bytes(b"pip's own")  # removed
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(bundling.subprocess, "run", fake_pip)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("dep==1.0\n")
    layer = LayerBundler(requirements, cache_root=tmp_path / "build").build()
    out = tmp_path / "out"
    out.mkdir()
    LayerBundler(requirements, cache_root=tmp_path / "build").try_bundle(str(out))
    python = out / "python"
    with_zip_mtimes(python)
    seen = runtime_probe(python, ["dep"])
    assert_every_module_has_unchecked_hash_bytecode(python, seen["tag"], seen["magic"])
    assert seen["compiled"] == []
    assert seen["filenames"]["dep/core.py"] == "/opt/python/dep/core.py"
    assert (layer / "python" / "dep" / "__pycache__").is_dir()


def test_a_file_the_runtime_cannot_compile_stops_bundling_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("X = 1\n")
    (tmp_path / "broken.py").write_text("def f(:\n")
    with pytest.raises(BundlingError) as raised:
        compile_bytecode(tmp_path, "/opt", runtime_python())
    assert "\n" not in str(raised.value) and "broken.py" in str(raised.value)


def test_without_the_runtimes_python_synth_stops_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError) as raised:
        runtime_python.__wrapped__("3.99")
    message = str(raised.value)
    assert "\n" not in message and "Python 3.99" in message and "bytecode" in message


def test_migration_asset_also_holds_the_schema(tmp_path: Path) -> None:
    out = tmp_path / "code"
    out.mkdir()
    CodeBundler(include_schema=True).try_bundle(str(out))
    assert sorted(p.name for p in (out / "redshift_schema").glob("V001__*.sql"))
    assert (out / "risk" / "warehouse" / "migrations.py").is_file()
