"""Encryption of Temporal payloads: the codec, its keys, the codec server over real HTTP, and
whole cases on the real dev server whose history holds no personal data in clear text."""

from __future__ import annotations

import base64

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from cli import main as starter
from runtime import encryption, settings
from runtime.encryption import (
    ENCRYPTED_ENCODING,
    ENCRYPTION_KEYS_ENV,
    ENCRYPTION_SCOPE_ENV,
    EncryptionCodec,
    EncryptionConfigError,
    PayloadDecryptionError,
)
from tests.helpers.codecs import codec_of, json_payloads, key_entry


# --------------------------------------------------------------------------------------
# The codec and its keys
# --------------------------------------------------------------------------------------
async def test_codec_round_trip_hides_the_data_and_names_the_key() -> None:
    codec = codec_of(key_entry("k1"))
    plain = json_payloads({"name": "王小明", "phone": "+8613800138000"}, 42)
    encoded = await codec.encode(plain)
    for payload in encoded:
        assert payload.metadata["encoding"] == ENCRYPTED_ENCODING
        assert payload.metadata["encryption-key-id"] == b"k1"
        assert b"+8613800138000" not in payload.data
        assert b"json/plain" not in payload.data  # the original metadata is sealed too
    # A fresh nonce each time: the same value never encrypts to the same bytes.
    assert (await codec.encode(plain))[0].data != encoded[0].data
    assert await codec.decode(encoded) == plain


async def test_the_personal_scope_seals_what_carries_a_borrower_and_nothing_else() -> None:
    codec = codec_of(key_entry("k1"), scope=encryption.SCOPE_PERSONAL)
    case = {"loan_id": "L-1", "borrower": {"borrower_id": "B-1", "phone": "+8613800138000"}}
    answer = {"loan_id": "L-1", "status": "active"}
    sealed, plain = await codec.encode(json_payloads(case, answer))
    assert sealed.metadata["encoding"] == ENCRYPTED_ENCODING
    assert b"+8613800138000" not in sealed.data
    assert plain == json_payloads(answer)[0]
    assert await codec.decode([sealed, plain]) == json_payloads(case, answer)


async def test_rotation_the_first_key_encrypts_every_listed_key_decrypts() -> None:
    old, new = key_entry("key1"), key_entry("key2")
    before = codec_of(old)
    after = codec_of(new, old)
    written_before = await before.encode(json_payloads({"loan_id": "L-1"}))
    assert await after.decode(written_before) == json_payloads({"loan_id": "L-1"})
    written_after = await after.encode(json_payloads({"loan_id": "L-2"}))
    assert written_after[0].metadata["encryption-key-id"] == b"key2"
    # A process still on the old keys cannot read what the new key wrote: it names the key.
    with pytest.raises(PayloadDecryptionError, match=r"'key2'.*known: key1"):
        await before.decode(written_after)


async def test_payloads_without_the_encrypted_encoding_pass_through() -> None:
    codec = codec_of(key_entry("k1"))
    plain = json_payloads({"payment_id": "psp-1", "amount_minor": 100}, None)
    assert await codec.decode(plain) == plain
    converter = encryption.encrypting_converter(encryption.parse_keys(key_entry("k1")))
    assert await converter.decode(plain, [dict, type(None)]) == [
        {"payment_id": "psp-1", "amount_minor": 100},
        None,
    ]


async def test_tampered_ciphertext_or_key_id_fails_authentication() -> None:
    first, second = key_entry("k1"), key_entry("k2")
    codec = codec_of(first, second)
    [payload] = await codec.encode(json_payloads({"amount_minor": 500000}))
    flipped = Payload()
    flipped.CopyFrom(payload)
    flipped.data = payload.data[:-1] + bytes([payload.data[-1] ^ 1])
    with pytest.raises(PayloadDecryptionError, match="'k1' failed authentication"):
        await codec.decode([flipped])
    relabelled = Payload()
    relabelled.CopyFrom(payload)
    relabelled.metadata["encryption-key-id"] = b"k2"  # the key id is bound to the ciphertext
    with pytest.raises(PayloadDecryptionError, match="'k2' failed authentication"):
        await codec.decode([relabelled])


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("k1", "entry 1: must be key-id:base64-key"),
        ("bad id:AAAA", "entry 1: key id must be"),
        ("k1:not base64!", "key 'k1': is not valid base64"),
        ("k1:" + base64.b64encode(b"sixteen byte key").decode(), "key 'k1': must be 32 bytes"),
        ("KEY,k2", "entry 2: must be key-id:base64-key"),
        ("KEY,", "entry 2: must be key-id:base64-key"),
    ],
)
def test_a_bad_keys_value_is_an_error_naming_the_variable(value: str, problem: str) -> None:
    good = key_entry("k1")
    value = value.replace("KEY", good)
    with pytest.raises(EncryptionConfigError) as raised:
        encryption.keys_from_env({ENCRYPTION_KEYS_ENV: value})
    message = str(raised.value)
    assert message.startswith(f"{ENCRYPTION_KEYS_ENV}: ")
    assert problem in message
    assert good.split(":")[1] not in message  # key material never in a message


def test_a_key_listed_twice_is_refused() -> None:
    entry = key_entry("k1")
    with pytest.raises(EncryptionConfigError, match=f"{ENCRYPTION_KEYS_ENV}: key 'k1': listed"):
        encryption.parse_keys(f"{entry},{entry}")


def test_encryption_is_off_when_the_variable_is_unset_or_empty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENCRYPTION_KEYS_ENV, raising=False)
    assert encryption.converter_from_env() is DataConverter.default
    monkeypatch.setenv(ENCRYPTION_KEYS_ENV, "  ")
    assert encryption.converter_from_env() is DataConverter.default
    monkeypatch.setenv(ENCRYPTION_KEYS_ENV, key_entry("k1"))
    codec = encryption.converter_from_env().payload_codec
    assert isinstance(codec, EncryptionCodec) and codec.key_ids == ("k1",)


async def test_clients_and_commands_refuse_a_bad_keys_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENCRYPTION_KEYS_ENV, "k1:AAAA")
    with pytest.raises(EncryptionConfigError, match=ENCRYPTION_KEYS_ENV):
        await settings.connect_client()
    assert await starter.run(["codec-server"]) == 2
    assert f"invalid configuration: {ENCRYPTION_KEYS_ENV}: key 'k1'" in capsys.readouterr().err
    monkeypatch.delenv(ENCRYPTION_KEYS_ENV)
    assert await starter.run(["codec-server"]) == 2
    assert f"{ENCRYPTION_KEYS_ENV} is not set" in capsys.readouterr().err
    monkeypatch.setenv(ENCRYPTION_KEYS_ENV, key_entry("k1"))
    monkeypatch.setenv("CODEC_SERVER_PORT", "eighty")
    assert await starter.run(["codec-server"]) == 2
    assert "CODEC_SERVER_PORT: 'eighty' is not a port number" in capsys.readouterr().err


def test_a_bad_scope_is_an_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENCRYPTION_KEYS_ENV, key_entry("k1"))
    monkeypatch.setenv(ENCRYPTION_SCOPE_ENV, "some")
    with pytest.raises(EncryptionConfigError, match=f"^{ENCRYPTION_SCOPE_ENV}: must be"):
        encryption.converter_from_env()


def test_new_key_entries_are_valid_and_distinct() -> None:
    first, second = key_entry("a"), key_entry("a")
    assert first != second
    [key] = encryption.parse_keys(first)
    assert key.key_id == "a" and len(key.key) == 32
