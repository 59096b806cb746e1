"""Keys (services/common/keys.py): parsing, who may sign for whom, and the command that makes, rotates
and retires them in an env file."""
from __future__ import annotations

import os
import stat

import pytest

from services.common import keys
from services.common.keys import BadKey, KeyRing, SigningKey


def test_a_key_id_names_its_owner_and_nothing_else_passes():
    key = SigningKey.generate("documents")
    assert key.owner == "documents" and keys.owner_of(key.kid) == "documents"
    for bad in ("documents", "evil-20261130-abcdef", "gateway-20261130-abcdef\n", "gateway-2026113-abcdef",
                "Gateway-20261130-abcdef", "gateway-20261130-ABCDEF", 7, None):
        with pytest.raises(BadKey):
            keys.owner_of(bad)


def test_a_signing_key_reads_back_and_never_prints_its_private_part():
    key = SigningKey.generate("gateway")
    again = SigningKey.parse(key.text(), owner="gateway")
    assert again.kid == key.kid and again.public_text() == key.public_text()
    secret = key.text().split(":", 1)[1]
    assert secret not in repr(key) and secret not in str(key) and secret not in key.public_text()
    with pytest.raises(BadKey, match="belongs to gateway, not documents"):
        SigningKey.parse(key.text(), "HAVEN_DOCUMENTS_SIGNING_KEY", owner="documents")


@pytest.mark.parametrize("text", ["", "no-colon", "gateway-20261130-abcdef:", "gateway-20261130-abcdef:!!!",
                                  "gateway-20261130-abcdef:" + "A" * 40])
def test_a_malformed_key_is_refused_without_repeating_it(text):
    with pytest.raises(BadKey) as refused:
        SigningKey.parse(text, "HAVEN_GATEWAY_SIGNING_KEY")
    assert "A" * 40 not in str(refused.value)


def test_the_ring_checks_a_signature_against_the_claimed_owners_keys_only():
    gateway, documents = SigningKey.generate("gateway"), SigningKey.generate("documents")
    ring = KeyRing.parse(f"{gateway.public_text()}, {documents.public_text()}")
    data = b"something signed"
    assert ring.owners() == {"gateway", "documents"}
    assert ring.verify("gateway", gateway.kid, gateway.sign(data), data)
    assert not ring.verify("gateway", documents.kid, documents.sign(data), data)  # not the gateway's key
    assert not ring.verify("gateway", gateway.kid, gateway.sign(data), data + b"!")
    assert not ring.verify("gateway", SigningKey.generate("gateway").kid, gateway.sign(data), data)  # unknown id
    assert not ring.verify("gateway", None, gateway.sign(data), data)


def test_for_process_leaves_each_process_its_own_signing_key_only():
    env: dict[str, str] = {"HAVEN_ENV": "test"}
    keys.ensure(env)
    documents = keys.for_process(env, "documents")
    assert "HAVEN_DOCUMENTS_SIGNING_KEY" in documents and "HAVEN_PUBLIC_KEYS" in documents
    assert not [name for name in documents if name.endswith("_SIGNING_KEY") and "DOCUMENTS" not in name]
    assert not [name for name in keys.for_process(env, None) if name.endswith("_SIGNING_KEY")]


def run(path, *args) -> int:
    return keys.main(["--env-file", str(path), *args])


def test_the_command_makes_rotates_and_retires_keys_in_an_owner_only_file(tmp_path, capsys):
    env = tmp_path / "keys.env"
    assert run(env, "ensure") == 0
    assert stat.S_IMODE(os.stat(env).st_mode) == 0o600
    values = keys.read_env(str(env))
    old = SigningKey.parse(values["HAVEN_GATEWAY_SIGNING_KEY"])
    assert len(KeyRing.parse(values["HAVEN_PUBLIC_KEYS"]).keys) == 5
    assert run(env, "ensure") == 0 and keys.read_env(str(env)) == values  # nothing to add: nothing changes

    assert run(env, "rotate", "gateway") == 0
    rotated = keys.read_env(str(env))
    new = SigningKey.parse(rotated["HAVEN_GATEWAY_SIGNING_KEY"])
    ring = KeyRing.parse(rotated["HAVEN_PUBLIC_KEYS"])
    assert new.kid != old.kid and {old.kid, new.kid} <= set(ring.keys)  # the overlap: both trusted
    assert rotated["HAVEN_DOCUMENTS_SIGNING_KEY"] == values["HAVEN_DOCUMENTS_SIGNING_KEY"]

    assert run(env, "retire", new.kid) == 2  # the key in use cannot be retired
    assert "rotate first" in capsys.readouterr().err
    assert run(env, "retire", old.kid) == 0
    retired = KeyRing.parse(keys.read_env(str(env))["HAVEN_PUBLIC_KEYS"])
    assert old.kid not in retired.keys and new.kid in retired.keys
    assert run(env, "retire", old.kid) == 2  # already gone

    capsys.readouterr()
    assert run(env, "list") == 0
    listed = capsys.readouterr().out
    assert f"{new.kid}  (signing)" in listed and old.kid not in listed
    assert new.text().split(":", 1)[1] not in listed and stat.S_IMODE(os.stat(env).st_mode) == 0o600
