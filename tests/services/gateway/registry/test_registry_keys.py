"""Tenants and API keys: the plaintext is shown once and stored only as a hash."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from sqlalchemy import text

from services.gateway.registry.store import API_KEY_PREFIX, Registry
from tuneloop_core.errors import AuthenticationError, NotFoundError


def test_ensure_tenant_is_idempotent(registry: Registry) -> None:
    first = registry.ensure_tenant("acme")
    assert registry.ensure_tenant("acme").id == first.id
    assert registry.ensure_tenant("globex").id != first.id


def test_a_key_is_stored_only_as_its_hash(registry: Registry) -> None:
    plaintext, record = registry.create_api_key("acme", "ci")
    assert plaintext.startswith(API_KEY_PREFIX)
    assert len(plaintext) > 40  # 32 random bytes, base64url
    assert record.prefix == plaintext[:10]

    with registry.db.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM api_keys")).mappings().all()
    assert len(rows) == 1
    row = rows[0]
    assert row["key_hash"] == hashlib.sha256(plaintext.encode()).hexdigest()
    assert row["name"] == "ci"
    for column, value in row.items():
        assert plaintext not in str(value), column


def test_a_key_authenticates_its_own_tenant(registry: Registry) -> None:
    acme_key, _ = registry.create_api_key("acme")
    globex_key, _ = registry.create_api_key("globex")
    assert registry.authenticate(acme_key).id == registry.ensure_tenant("acme").id
    assert registry.authenticate(globex_key).name == "globex"


def test_a_tenant_may_hold_several_keys(registry: Registry) -> None:
    one, _ = registry.create_api_key("acme", "one")
    two, _ = registry.create_api_key("acme", "two")
    assert one != two
    assert registry.authenticate(one).id == registry.authenticate(two).id


@pytest.mark.parametrize(
    "forged",
    [
        lambda key: key + "x",
        lambda key: key[:10],  # the displayed prefix alone
        lambda key: hashlib.sha256(key.encode()).hexdigest(),  # the stored hash
        lambda key: "",
    ],
    ids=["altered", "prefix", "hash", "empty"],
)
def test_a_wrong_key_is_refused(registry: Registry, forged: Callable[[str], str]) -> None:
    plaintext, _ = registry.create_api_key("acme")
    with pytest.raises(AuthenticationError) as raised:
        registry.authenticate(forged(plaintext))
    assert raised.value.code == "invalid_api_key"


def test_a_revoked_key_is_refused_and_the_others_still_work(registry: Registry) -> None:
    revoked, record = registry.create_api_key("acme", "old")
    kept, _ = registry.create_api_key("acme", "new")
    registry.revoke_api_key(record.id)
    with pytest.raises(AuthenticationError):
        registry.authenticate(revoked)
    assert registry.authenticate(kept).name == "acme"


def test_revoking_an_unknown_key_is_not_found(registry: Registry) -> None:
    with pytest.raises(NotFoundError):
        registry.revoke_api_key("key-missing")
