"""The one place where the operator tools turn a mistake into a one-line message and an exit code.

``riskctl`` and ``make demo`` run their work through :func:`guarded`: an exception this module
knows (no credentials, no region, an unreachable endpoint, a queue or bucket that does not exist,
a warehouse that does not answer, a missing file, an :class:`OperatorError`) becomes
``<prog>: error: <what happened>; <what to do>`` on stderr and a non-zero exit. Anything else is a
bug and keeps its traceback. Argument values are checked while parsing (the ``type=`` functions
below and :class:`OperatorParser`), so a wrong value stops the command before any work starts.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_NO_SUCH = {
    "AWS.SimpleQueueService.NonExistentQueue": "no such SQS queue",
    "QueueDoesNotExist": "no such SQS queue",
    "NoSuchBucket": "no such S3 bucket",
    "ResourceNotFoundException": "no such resource",
}


class OperatorError(Exception):
    """A mistake or a state the operator can fix; the message says what to do."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class OperatorParser(argparse.ArgumentParser):
    """argparse that reports a usage mistake on one line (with where to look), not the usage block."""

    help_hint: str | None = None  # how to get the help, when not ``<prog> --help`` (make targets)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.help_hint or self.prog + ' --help'})\n")


def positive_int(value: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def positive_float(value: str) -> float:
    """argparse type: a number above 0 (a rate)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {value}")
    return number


def input_file(value: str) -> Path:
    """argparse type: a readable file that exists."""
    path = Path(value)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is a directory: give a file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {value} (give the path of an existing file)")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"cannot read {value}: check its permissions")
    return path


def output_file(value: str) -> Path:
    """argparse type: a file that can be written; its folder is created if it does not exist yet."""
    path = Path(value)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is a directory: give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot create the folder {path.parent}: {exc.strerror}") from None
    writable = os.access(path, os.W_OK) if path.exists() else os.access(path.parent, os.W_OK)
    if not writable:
        raise argparse.ArgumentTypeError(f"cannot write {value}: check the permissions of {path.parent}")
    return path


def explain(exc: BaseException) -> tuple[str, int] | None:
    """(one-line message, exit code) for a mistake the operator can fix; None for a bug."""
    if isinstance(exc, OperatorError):
        return str(exc), exc.exit_code
    message = _explain_aws(exc) or _explain_warehouse(exc) or _explain_os(exc)
    return (message, EXIT_FAILED) if message else None


def _explain_aws(exc: BaseException) -> str | None:
    from botocore import exceptions as boto  # noqa: PLC0415 (imported by every caller anyway)

    if isinstance(exc, boto.NoCredentialsError | boto.PartialCredentialsError):
        return (
            "no AWS credentials found: set AWS_PROFILE (or run `aws configure` / `aws sso login`), "
            "or pass --endpoint-url for a local moto server"
        )
    if isinstance(exc, boto.NoRegionError):
        return "no AWS region: pass --region (e.g. --region eu-west-1) or set AWS_DEFAULT_REGION"
    if isinstance(exc, boto.ProfileNotFound):
        return f"{exc}: check AWS_PROFILE against `aws configure list-profiles`"
    if isinstance(exc, boto.ConnectionError | boto.HTTPClientError):  # refused, unreachable, timed out
        return f"{exc}: check --endpoint-url and --region, and that the endpoint is running and reachable"
    if isinstance(exc, boto.ClientError):
        error = exc.response.get("Error", {})
        code, detail = str(error.get("Code", "")), str(error.get("Message", "")).rstrip(".")
        if code in _NO_SUCH:
            name = error.get("BucketName") or error.get("QueueName")
            what = f"{_NO_SUCH[code]} {name}" if name else _NO_SUCH[code]
            return f"{what} ({exc.operation_name}: {detail or code}): check the name and --region"
        return f"AWS refused {exc.operation_name}: {code}: {detail}; check the permissions and the arguments"
    if isinstance(exc, boto.BotoCoreError):
        return f"{exc}"
    return None


def _explain_warehouse(exc: BaseException) -> str | None:
    import redshift_connector  # noqa: PLC0415 (imported by every caller anyway)

    if isinstance(exc, redshift_connector.InterfaceError):
        return (
            f"cannot talk to the warehouse ({exc}): check the DSN, or start a local one with "
            "`riskctl warehouse` and pass the DSN it prints"
        )
    return None


def _explain_os(exc: BaseException) -> str | None:
    if isinstance(exc, FileNotFoundError):
        return f"no such file: {exc.filename}: check the path"
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename}: check its permissions"
    return None


def guarded(prog: str, work: Callable[[], int]) -> int:
    """Run ``work``; a known mistake becomes one line on stderr and its exit code, never a traceback."""
    try:
        return work()
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        return EXIT_INTERRUPTED
    except Exception as exc:
        explained = explain(exc)
        if explained is None:
            raise
        message, code = explained
        sys.stderr.write(f"{prog}: error: {message}\n")
        return code
