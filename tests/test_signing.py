"""Link tokens: purpose-bound, rotatable, tamper-evident, never carrying an address."""

from __future__ import annotations

import pytest

from newsletter.signing import OLD_SECRETS_ENV, SECRET_ENV, Keyring, key_id

OLD = "old-secret-aaaaaaaaaaaaaaaa"
NEW = "new-secret-bbbbbbbbbbbbbbbb"
SID = "AbCdEfGh12345678"


def test_round_trip_and_purpose_binding() -> None:
    ring = Keyring(NEW)
    token = ring.sign("unsubscribe", SID)
    assert ring.verify("unsubscribe", token) == SID
    assert ring.verify("confirm", token) is None
    assert ring.verify("unsubscribe", ring.sign("confirm", SID)) is None


def test_rotation_old_links_keep_working_new_links_use_new_key() -> None:
    old_token = Keyring(OLD).sign("unsubscribe", SID)
    rotated = Keyring.from_env({SECRET_ENV: NEW, OLD_SECRETS_ENV: f"{OLD}  other-old-secret-cccccccc"})
    assert rotated is not None
    assert rotated.verify("unsubscribe", old_token) == SID
    new_token = rotated.sign("unsubscribe", SID)
    assert new_token.startswith(key_id(NEW) + ".")
    # Once the old key is dropped, its tokens stop verifying; a keyring without the new key rejects new tokens.
    assert Keyring(NEW).verify("unsubscribe", old_token) is None
    assert Keyring(OLD).verify("unsubscribe", new_token) is None


def test_tampering_is_rejected() -> None:
    ring = Keyring(NEW)
    token = ring.sign("unsubscribe", SID)
    kid, sid, mac = token.split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    for bad in (f"{kid}.{sid}.{flipped}", f"{kid}.ZZZZZZZZ12345678.{mac}", f"00000000.{sid}.{mac}",
                token + "x", "", "a.b.c", token.replace(".", "")):
        assert ring.verify("unsubscribe", bad) is None


def test_keyring_refuses_short_secret_and_hides_it() -> None:
    with pytest.raises(ValueError):
        Keyring("short")
    assert Keyring.from_env({}) is None
    assert NEW not in repr(Keyring(NEW))
