"""Keyed pseudonyms: known vectors, normalisation, domain separation, and a key that must exist."""

from __future__ import annotations

import hashlib
import hmac

import boto3
import pytest
from moto import mock_aws

from risk.load.pseudonymise import (
    Pseudonymiser,
    PseudonymKeyError,
    key_from_secret_string,
    load_pseudonymiser,
)
from tests.load.conftest import REGION, TEST_KEY

# Computed outside Python: printf 'email:alice.example@mail.test' | openssl dgst -sha256 -hmac "$KEY"
OPENSSL_VECTORS = {
    "email": ("  Alice.Example@Mail.TEST ", "62d6212c3d0644df34f02148518dfe1e9fb477026d45166d5ad25f310b27f196"),
    "ip": ("203.0.113.7", "037b1872fc95597a83f116d5b12fa1a966366db5a943afc331fc153c55cf4c02"),
    "device": ("device-abc", "59e9d6a462aa9c276514e77c790d506e258ce30654b12d0497303c1e18bdffe6"),
}


def test_known_vectors_computed_by_openssl(keys: Pseudonymiser) -> None:
    assert keys.email_key(OPENSSL_VECTORS["email"][0]) == OPENSSL_VECTORS["email"][1]
    assert keys.ip_key(OPENSSL_VECTORS["ip"][0]) == OPENSSL_VECTORS["ip"][1]
    assert keys.device_key(OPENSSL_VECTORS["device"][0]) == OPENSSL_VECTORS["device"][1]


def test_matches_hmac_sha256_of_the_prefixed_value(keys: Pseudonymiser) -> None:
    expected = hmac.new(TEST_KEY, b"device:phone-42", hashlib.sha256).hexdigest()
    assert keys.device_key(" phone-42\n") == expected


def test_email_is_trimmed_and_lower_cased_before_keying(keys: Pseudonymiser) -> None:
    assert keys.email_key("Bob@Example.COM") == keys.email_key("  bob@example.com\t")
    assert keys.email_key("bob@example.com") != keys.email_key("rob@example.com")


def test_equivalent_ip_spellings_share_a_key(keys: Pseudonymiser) -> None:
    assert keys.ip_key("2001:DB8:0:0:0:0:0:1") == keys.ip_key("2001:db8::1")
    assert keys.ip_key(" 198.51.100.1 ") == keys.ip_key("198.51.100.1")
    assert keys.ip_key("198.51.100.1") != keys.ip_key("198.51.100.2")
    # Not an address: still keyed, never passed through in clear.
    assert keys.ip_key("not-an-ip") == hmac.new(TEST_KEY, b"ip:not-an-ip", hashlib.sha256).hexdigest()


def test_domains_are_separated(keys: Pseudonymiser) -> None:
    same = "x@y.z"
    assert len({keys.email_key(same), keys.ip_key(same), keys.device_key(same)}) == 3


def test_a_different_key_gives_different_pseudonyms(keys: Pseudonymiser) -> None:
    other = Pseudonymiser(b"another-key-of-sufficient-length-0123456789")
    assert other.email_key("a@b.c") != keys.email_key("a@b.c")


def test_missing_values_stay_missing(keys: Pseudonymiser) -> None:
    assert (keys.email_key(None), keys.ip_key(None), keys.device_key(None)) == (None, None, None)


def test_short_or_empty_keys_are_refused() -> None:
    with pytest.raises(PseudonymKeyError):
        Pseudonymiser(b"short")
    with pytest.raises(PseudonymKeyError):
        key_from_secret_string("")
    with pytest.raises(PseudonymKeyError):
        key_from_secret_string(None)


def test_the_key_never_appears_in_repr(keys: Pseudonymiser) -> None:
    assert TEST_KEY.decode() not in repr(keys)


@mock_aws
def test_key_comes_from_secrets_manager() -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    arn = client.create_secret(Name="risk/pii-key", SecretString=TEST_KEY.decode())["ARN"]
    loaded = load_pseudonymiser(client, arn)
    assert loaded.key == TEST_KEY


@mock_aws
def test_a_missing_secret_is_an_error_not_a_fallback() -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        load_pseudonymiser(client, f"arn:aws:secretsmanager:{REGION}:123456789012:secret:nope-AbCdEf")
    with pytest.raises(PseudonymKeyError):
        load_pseudonymiser(client, "")
