"""Every AWS client of the functions: bounded timeouts and one retry mode, declared once.

botocore's defaults (60 s connect, 60 s read, ``legacy`` retries) let one hung call use up a whole
60 s function, which then fails by timeout instead of by a retried error. Here each attempt is
bounded and retried in ``standard`` mode (jittered backoff, retry quota), so one call's worst case,
:data:`WORST_CASE_CALL_S`, stays below every function's timeout: ``stacks.config`` refuses a
``timeout_s`` in cdk.json that could not hold it. boto3 has already imported ``botocore.config``,
so this module costs nothing at cold start.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0
RETRY_MODE = "standard"
MAX_ATTEMPTS = 3  # in all, the first included (botocore's "total_max_attempts"; its "max_attempts" counts retries)
_MAX_BACKOFF_S = 20.0  # standard mode's cap on one backoff (base 2, full jitter)


def worst_case_call_s(
    connect_timeout: float = CONNECT_TIMEOUT_S, read_timeout: float = READ_TIMEOUT_S, attempts: int = MAX_ATTEMPTS
) -> float:
    """The longest one call can take: every attempt times out, with the longest backoffs between them."""
    backoff = sum(min(2.0**retry, _MAX_BACKOFF_S) for retry in range(attempts - 1))
    return attempts * (connect_timeout + read_timeout) + backoff


WORST_CASE_CALL_S = worst_case_call_s()


def client(
    service: str,
    session: boto3.session.Session | None = None,
    *,
    read_timeout: float = READ_TIMEOUT_S,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    region_name: str | None = None,
) -> Any:
    """A client of ``service`` (from ``session``, else boto3's default session) with the functions' settings.

    A caller may shorten a timeout, never lengthen it: the budget checked against cdk.json is this module's.
    """
    if worst_case_call_s(connect_timeout, read_timeout) > WORST_CASE_CALL_S:
        raise ValueError(f"{service}: timeouts above the budget of risk.common.aws ({WORST_CASE_CALL_S:g} s a call)")
    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": RETRY_MODE, "total_max_attempts": MAX_ATTEMPTS},
    )
    if session is None:
        return boto3.client(service, region_name=region_name, config=config)
    return session.client(service, region_name=region_name, config=config)
