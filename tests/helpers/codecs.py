"""Encryption keys and codecs for the tests; `codec` is registered as a fixture by
tests/conftest.py."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from runtime import encryption
from runtime.encryption import (
    EncryptionCodec,
)


def key_entry(key_id: str) -> str:
    return encryption.new_key_entry(key_id)


def codec_of(*entries: str, scope: str = encryption.SCOPE_ALL) -> EncryptionCodec:
    return EncryptionCodec(encryption.parse_keys(",".join(entries)), scope)


def json_payloads(*values: Any) -> list[Payload]:
    return DataConverter.default.payload_converter.to_payloads(list(values))


# --------------------------------------------------------------------------------------
# The codec server, over real HTTP on loopback
# --------------------------------------------------------------------------------------
@pytest.fixture
def codec() -> EncryptionCodec:
    return codec_of(key_entry("k1"))
