#!/usr/bin/env python3
"""CDK entry point: ``cdk synth|deploy -c env=dev|staging|prod`` (default dev).

Everything is built by :func:`stacks.app_factory.build_app`, the same function the tests use.
An invalid configuration stops synth with a message naming the key and a non-zero exit.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
for path in (ROOT / "lambdas", ROOT):  # risk.* (lambdas/) and stacks.*, as in pytest and the Makefile
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from aws_cdk import App  # noqa: E402

from stacks.app_factory import build_app  # noqa: E402
from stacks.config import ConfigError  # noqa: E402


def main() -> int:
    app = App()
    env_name = str(app.node.try_get_context("env") or "dev")
    try:
        build_app(env_name, bundle=True, app=app)
    except ConfigError as error:
        print(f"invalid configuration for env={env_name}: {error}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
