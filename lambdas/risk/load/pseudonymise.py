"""Keyed pseudonyms for the PII the warehouse must not hold in clear: email, ip and device id.

A pseudonym is HMAC-SHA256(key, "<kind>:<normalised value>") in lower-case hex. Analysts can join
and count on it (the same input always gives the same key) but cannot read it back, and without the
key nobody can confirm a guess by hashing candidate values (what a plain hash would allow for the
small space of IPv4 addresses). The kind prefix separates the domains: an email and a device id
that happen to be the same string get different keys.

The key lives in Secrets Manager (``PII_KEY_SECRET_ARN``); it is required, there is no fallback.
Rotating it changes every pseudonym from then on (old and new rows no longer join), so it is a
deliberate operation, not a schedule.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from typing import Any

EMAIL = "email"
IP = "ip"
DEVICE = "device"
MIN_KEY_BYTES = 32


class PseudonymKeyError(RuntimeError):
    """The pseudonymisation key is missing or too weak: the function must not run without it."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_ip(ip: str) -> str:
    """The canonical text of an address (``::FFFF:0A00:0001`` and ``::ffff:a00:1`` are one address)."""
    text = ip.strip()
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return text  # not an address we can parse: pseudonymise it as given, never keep it in clear


def normalise_device(device_id: str) -> str:
    return device_id.strip()


@dataclass(frozen=True, slots=True)
class Pseudonymiser:
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) < MIN_KEY_BYTES:
            raise PseudonymKeyError(f"the pseudonymisation key has {len(self.key)} bytes; at least {MIN_KEY_BYTES}")

    def __repr__(self) -> str:  # never print the key
        return "Pseudonymiser(key=<redacted>)"

    def pseudonym(self, kind: str, normalised: str) -> str:
        message = f"{kind}:{normalised}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def email_key(self, email: str | None) -> str | None:
        return None if email is None else self.pseudonym(EMAIL, normalise_email(email))

    def ip_key(self, ip: str | None) -> str | None:
        return None if ip is None else self.pseudonym(IP, normalise_ip(ip))

    def device_key(self, device_id: str | None) -> str | None:
        return None if device_id is None else self.pseudonym(DEVICE, normalise_device(device_id))


def key_from_secret_string(secret: str | None) -> bytes:
    """The key is the whole SecretString (UTF-8), e.g. a 64-character generated secret."""
    if not secret:
        raise PseudonymKeyError("the pseudonymisation secret has no SecretString")
    return secret.encode("utf-8")


def load_pseudonymiser(secrets_client: Any, secret_arn: str) -> Pseudonymiser:
    """Fetch the key once (callers keep the result for the container's lifetime)."""
    if not secret_arn:
        raise PseudonymKeyError("no pseudonymisation secret configured (PII_KEY_SECRET_ARN)")
    response = secrets_client.get_secret_value(SecretId=secret_arn)
    return Pseudonymiser(key_from_secret_string(response.get("SecretString")))
