"""Passwords: argon2id through argon2-cffi's `PasswordHasher`, at its default parameters.

A hash made with older parameters is replaced at the next right sign-in (`needs_rehash`), so
raising the parameters needs no migration.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# NIST SP 800-63B: at least 8 characters for a memorised secret chosen by its user; length,
# not composition rules, and the throttle on failed sign-ins does the rest.
PASSWORD_MIN_CHARS = 8
# A passphrase of a few words fits; a megabyte does not reach argon2.
PASSWORD_MAX_CHARS = 1024

_HASHER = PasswordHasher()
# Checked when the user name is unknown, so a wrong name takes as long as a wrong password
# and the answer's timing does not tell which names exist.
_DUMMY_HASH = _HASHER.hash("not a password of anyone's")


class PasswordRefused(ValueError):
    """The password is unfit; the message says why and names the field."""


def check_new_password(password: str) -> str:
    if not password:
        raise PasswordRefused("password: empty")
    if len(password) < PASSWORD_MIN_CHARS:
        raise PasswordRefused(f"password: at least {PASSWORD_MIN_CHARS} characters")
    if len(password) > PASSWORD_MAX_CHARS:
        raise PasswordRefused(f"password: at most {PASSWORD_MAX_CHARS} characters")
    return password


def hash_password(password: str) -> str:
    return _HASHER.hash(check_new_password(password))


@dataclass(frozen=True)
class Verdict:
    right: bool
    new_hash: str | None = None  # set when the stored hash should be replaced by this one


def verify(stored_hash: str | None, password: str) -> Verdict:
    """`stored_hash` None or empty (no such user, or a single-sign-on-only user): always wrong,
    after the same work as a real check."""
    if len(password) > PASSWORD_MAX_CHARS:
        return Verdict(right=False)
    try:
        _HASHER.verify(stored_hash or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Verdict(right=False)
    if not stored_hash:
        return Verdict(right=False)
    if _HASHER.check_needs_rehash(stored_hash):
        return Verdict(right=True, new_hash=_HASHER.hash(password))
    return Verdict(right=True)
