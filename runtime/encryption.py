"""Encryption of Temporal payloads (AES-256-GCM), so personal data is never clear text there.

Switched on by `COLLECTIONS_ENCRYPTION_KEYS`, a comma-separated list of `key-id:base64-key`
(32-byte keys), newest first: the first key encrypts, every listed key decrypts, so a key is
rotated by putting a new one in front and dropping the old one once no history needs it.
Unset, nothing is encrypted and every payload is the plain JSON the contract describes.

`COLLECTIONS_ENCRYPTION_SCOPE` says what is encrypted: `personal` (the default) seals every
payload that carries a borrower's contact details — a case's start input, the one place they
enter Temporal (activities look them up in the case database by `borrower_id`) — and leaves
the rest plain, so clients with Temporal's default converter still read answers, query results
and case results as the contract's plain JSON; `all` seals every payload, and then only
clients with the codec can read what comes back.

An encrypted payload keeps the key id in its metadata; its data is the nonce followed by the
AES-GCM ciphertext of the whole original payload (metadata and data), the key id bound in as
associated data. Payloads without the encrypted encoding decode as they are: payment systems
signal plain JSON over Temporal's HTTP API to encrypted cases.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import DataConverter, PayloadCodec

from runtime import payloads

ENCRYPTION_KEYS_ENV = "COLLECTIONS_ENCRYPTION_KEYS"
ENCRYPTION_SCOPE_ENV = "COLLECTIONS_ENCRYPTION_SCOPE"
SCOPE_PERSONAL = "personal"
SCOPE_ALL = "all"
# The key under which a case's input carries the borrower's contact details.
PERSONAL_DATA_MARK = b'"borrower"'
ENCRYPTED_ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


class EncryptionConfigError(ValueError):
    """The encryption keys are misconfigured; the message names the variable, never a key."""


class PayloadDecryptionError(ValueError):
    """An encrypted payload cannot be decrypted: unknown key id, tampered, or the wrong key."""


@dataclass(frozen=True)
class EncryptionKey:
    key_id: str
    key: bytes = dataclasses.field(repr=False)


def parse_keys(value: str, *, variable: str = ENCRYPTION_KEYS_ENV) -> tuple[EncryptionKey, ...]:
    """`id:base64,id:base64,...` (newest first); raises `EncryptionConfigError` naming
    `variable` and the entry. Key material never appears in a message."""
    entries = value.split(",")
    keys: list[EncryptionKey] = []
    for position, entry in enumerate(entries, start=1):
        where = f"{variable}: entry {position}"
        key_id, separator, encoded = entry.strip().partition(":")
        if not separator:
            raise EncryptionConfigError(f"{where}: must be key-id:base64-key")
        if not KEY_ID_PATTERN.fullmatch(key_id):
            raise EncryptionConfigError(f"{where}: key id must be 1-64 of A-Za-z0-9._-")
        where = f"{variable}: key {key_id!r}"
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error:
            raise EncryptionConfigError(f"{where}: is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise EncryptionConfigError(
                f"{where}: must be {KEY_BYTES} bytes (AES-256), base64-encoded; got {len(key)}"
            )
        if any(known.key_id == key_id for known in keys):
            raise EncryptionConfigError(f"{where}: listed twice")
        keys.append(EncryptionKey(key_id, key))
    return tuple(keys)


def keys_from_env(
    environ: Mapping[str, str] = os.environ,
) -> tuple[EncryptionKey, ...] | None:
    """The configured keys, or None when encryption is off (the variable unset or empty)."""
    value = environ.get(ENCRYPTION_KEYS_ENV, "").strip()
    return parse_keys(value) if value else None


def new_key_entry(key_id: str) -> str:
    """A fresh random key as one entry of `COLLECTIONS_ENCRYPTION_KEYS`."""
    if not KEY_ID_PATTERN.fullmatch(key_id):
        raise EncryptionConfigError("key id must be 1-64 of A-Za-z0-9._-")
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM payload codec: the first key encrypts, any of the keys decrypts."""

    def __init__(self, keys: Sequence[EncryptionKey], scope: str = SCOPE_PERSONAL) -> None:
        if not keys:
            raise EncryptionConfigError(f"{ENCRYPTION_KEYS_ENV}: at least one key is needed")
        if scope not in (SCOPE_PERSONAL, SCOPE_ALL):
            raise EncryptionConfigError(
                f"{ENCRYPTION_SCOPE_ENV}: must be {SCOPE_PERSONAL!r} or {SCOPE_ALL!r}, "
                f"not {scope!r}"
            )
        self.scope = scope
        self.encrypting_key_id = keys[0].key_id
        self._ciphers = {key.key_id: AESGCM(key.key) for key in keys}

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self.encrypt(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self.decrypt(payloads)

    # Synchronous halves, for the codec server's threads.
    def encrypt(self, payloads: Iterable[Payload]) -> list[Payload]:
        key_id = self.encrypting_key_id.encode()
        cipher = self._ciphers[self.encrypting_key_id]
        encrypted = []
        for payload in payloads:
            if self.scope == SCOPE_PERSONAL and PERSONAL_DATA_MARK not in payload.data:
                encrypted.append(payload)
                continue
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), key_id)
            encrypted.append(
                Payload(
                    metadata={"encoding": ENCRYPTED_ENCODING, KEY_ID_METADATA: key_id},
                    data=nonce + sealed,
                )
            )
        return encrypted

    def decrypt(self, payloads: Iterable[Payload]) -> list[Payload]:
        return [self._decrypt_one(payload) for payload in payloads]

    def _decrypt_one(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCRYPTED_ENCODING:
            return payload  # plain JSON from a client without the codec
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadDecryptionError(
                f"payload encrypted with key {key_id!r}, which is not in {ENCRYPTION_KEYS_ENV} "
                f"(known: {', '.join(self._ciphers)})"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            return Payload.FromString(cipher.decrypt(nonce, sealed, key_id.encode()))
        except InvalidTag:
            raise PayloadDecryptionError(
                f"payload encrypted with key {key_id!r} failed authentication "
                "(tampered with, or a different key under the same id)"
            ) from None


def scope_from_env(environ: Mapping[str, str] = os.environ) -> str:
    return environ.get(ENCRYPTION_SCOPE_ENV, "").strip() or SCOPE_PERSONAL


def encrypting_converter(
    keys: Sequence[EncryptionKey], base: DataConverter = DataConverter.default
) -> DataConverter:
    """`base` (its payload and failure converters kept) with the encryption codec, sealing
    what `COLLECTIONS_ENCRYPTION_SCOPE` says."""
    return dataclasses.replace(base, payload_codec=EncryptionCodec(keys, scope_from_env()))


def converter_from_env(base: DataConverter = DataConverter.default) -> DataConverter:
    """`base` with the codec when `COLLECTIONS_ENCRYPTION_KEYS` is set, else `base` itself."""
    keys = keys_from_env()
    return base if keys is None else encrypting_converter(keys, base)


def encrypting_from_env(converter: DataConverter) -> DataConverter:
    """`converter` itself when encryption is off or it already encrypts; otherwise `converter`
    with the codec.

    A converter that already has another codec is refused: silently replacing it would drop
    what it does, and stacking ours on it would make histories that only this system reads.
    """
    keys = keys_from_env()
    codec = converter.payload_codec
    if keys is None or isinstance(codec, EncryptionCodec):
        return converter
    if codec is not None:
        raise EncryptionConfigError(
            f"{ENCRYPTION_KEYS_ENV} is set but the client already has the payload codec "
            f"{type(codec).__name__}: connect it with Temporal's default data converter "
            "(the worker then adds encryption itself) or without that codec"
        )
    return encrypting_converter(keys, converter)


def with_encryption_from_env(client: Client) -> Client:
    """`client` itself when encryption is off or it already encrypts; otherwise a client on
    the same connection with the codec added to its data converter (`encrypting_from_env`)."""
    return payloads.with_converter(client, encrypting_from_env(client.data_converter))
