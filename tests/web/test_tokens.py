"""Token verification: RS256 and HS256 accepted; anything else is 401, with the reason.

Keys are only those configured: never a file found in the working directory.
"""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from web_support import AUDIENCE, ISSUER, SECRET, settings_for

from recompense.web.app import create_app
from recompense.web.auth import Principal, TokenError, Verifier
from recompense.web.errors import WebSettingsError
from recompense.web.settings import Settings, create_local_secret


def claims(**overrides):
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "idp|42",
        "role": "user",
        "user_id": 42,
        "iat": now,
        "exp": now + 600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture
def verifier(rsa_keys, tmp_path):
    return Verifier(settings_for(f"sqlite:///{tmp_path / 'unused.db'}", rsa_keys))


def rs256(rsa_keys, **overrides):
    return jwt.encode(claims(**overrides), rsa_keys.private_pem, algorithm="RS256")


def hs256(secret=SECRET, **overrides):
    return jwt.encode(claims(**overrides), secret, algorithm="HS256")


def test_rs256_and_hs256_tokens_verify(verifier, rsa_keys):
    expected = Principal("idp|42", "user", 42, "es")
    assert verifier.verify(rs256(rsa_keys, locale="es")) == expected
    assert verifier.verify(hs256(locale="es")) == expected
    assert verifier.verify(hs256(role="ops", user_id=None)) == Principal(
        "idp|42", "ops", None, None
    )


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "https://evil.example"}, "Invalid issuer"),
        ({"aud": "someone-else"}, "Audience doesn't match"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"iss": None}, 'missing the "iss" claim'),
        ({"exp": None}, 'missing the "exp" claim'),
        ({"role": "admin"}, "role 'admin' is not one of"),
        ({"role": None}, "role None is not one of"),
        ({"user_id": None}, "must carry 'user_id'"),
        ({"user_id": "42"}, "is not a user id"),
    ],
)
def test_bad_claims_are_refused(verifier, rsa_keys, overrides, reason):
    for token in (rs256(rsa_keys, **overrides), hs256(**overrides)):
        with pytest.raises(TokenError, match=reason):
            verifier.verify(token)


def test_bad_signatures_and_algorithms_are_refused(verifier, rsa_keys):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims(), stranger, algorithm="RS256")
    with pytest.raises(TokenError, match="Signature verification failed"):
        verifier.verify(forged)
    with pytest.raises(TokenError, match="Signature verification failed"):
        verifier.verify(hs256(secret="t" * 48))
    unsigned = jwt.encode(claims(), None, algorithm="none")
    with pytest.raises(TokenError, match="'none' are not accepted"):
        verifier.verify(unsigned)
    with pytest.raises(TokenError, match="'HS512' are not accepted"):
        verifier.verify(jwt.encode(claims(), SECRET * 2, algorithm="HS512"))
    with pytest.raises(TokenError, match="malformed"):
        verifier.verify("not.a.token")


def test_the_public_key_cannot_be_used_as_an_hmac_secret(rsa_keys, tmp_path):
    """Algorithm confusion: an HS256 token "signed" with the RS256 public key."""
    only_rsa = Settings.from_env(
        {
            "RECOMPENSE_JWT_PUBLIC_KEY": rsa_keys.public_pem,
            "RECOMPENSE_JWT_ISSUER": ISSUER,
            "RECOMPENSE_JWT_AUDIENCE": AUDIENCE,
        },
        db_url="sqlite:///unused.db",
    )
    assert only_rsa.hs256_secret is None
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims()).encode())
    signature = hmac.new(rsa_keys.public_pem.encode(), header + b"." + body, hashlib.sha256)
    forged = (header + b"." + body + b"." + b64(signature.digest())).decode()
    with pytest.raises(TokenError, match="'HS256' are not accepted"):
        Verifier(only_rsa).verify(forged)


def test_the_api_answers_401_with_the_reason(served, rsa_keys):
    client = served.client()
    expired = rs256(rsa_keys, exp=int(time.time()) - 3600, user_id=served.owner)
    answer = client.get("/api/me", headers={"Authorization": f"Bearer {expired}"})
    assert answer.status_code == 401
    assert "expired" in answer.json()["detail"]
    assert answer.headers["www-authenticate"] == "Bearer"
    good = rs256(rsa_keys, user_id=served.owner)
    me = client.get("/api/me", headers={"Authorization": f"Bearer {good}"})
    assert me.status_code == 200
    assert me.json()["user_id"] == served.owner


def test_settings_refuse_weak_or_malformed_keys(tmp_path):
    with pytest.raises(WebSettingsError, match="at least 32"):
        Settings.from_env({"RECOMPENSE_JWT_SECRET": "short"}, db_url="sqlite:///x.db")
    with pytest.raises(WebSettingsError, match="not a PEM public key"):
        Settings.from_env({"RECOMPENSE_JWT_PUBLIC_KEY": "hello"}, db_url="sqlite:///x.db")
    with pytest.raises(WebSettingsError, match="no database"):
        Settings.from_env({"RECOMPENSE_JWT_SECRET": SECRET})


def test_a_stale_secret_file_in_the_working_directory_enables_nothing(
    rsa_keys, tmp_path, monkeypatch
):
    """The original failure (issue 17): ``make demo`` once left ``.recompense/jwt-secret``
    in the working directory, and with an RS256 key configured (production) it silently
    enabled HS256 tokens signed with it, for any role. Now only configured keys count."""
    stale = tmp_path / ".recompense" / "jwt-secret"
    stale.parent.mkdir()
    stale.write_text("w" * 64 + "\n")
    monkeypatch.chdir(tmp_path)
    production = Settings.from_env(
        {
            "RECOMPENSE_JWT_PUBLIC_KEY": rsa_keys.public_pem,
            "RECOMPENSE_JWT_ISSUER": ISSUER,
            "RECOMPENSE_JWT_AUDIENCE": AUDIENCE,
        },
        db_url="sqlite:///unused.db",
    )
    assert production.hs256_secret is None
    forged = hs256(secret="w" * 64, role="ops", user_id=None)
    with pytest.raises(TokenError, match="'HS256' are not accepted"):
        Verifier(production).verify(forged)
    assert Verifier(production).verify(rs256(rsa_keys)).user_id == 42
    with pytest.raises(WebSettingsError, match="no key to verify tokens with"):
        Settings.from_env({}, db_url="sqlite:///unused.db")  # the file is not a key either
    assert sorted(p.name for p in tmp_path.rglob("*")) == [".recompense", "jwt-secret"]


def test_a_configured_secret_file_must_exist_and_nothing_makes_one(tmp_path):
    missing = tmp_path / "secret" / "jwt"
    with pytest.raises(WebSettingsError, match="recompense dev-secret --out"):
        Settings.from_env({"RECOMPENSE_JWT_SECRET_FILE": str(missing)}, db_url="sqlite:///x.db")
    assert not missing.parent.exists()
    create_local_secret(missing)
    assert missing.stat().st_mode & 0o777 == 0o600
    env = {"RECOMPENSE_JWT_SECRET_FILE": str(missing)}
    first = Settings.from_env(env, db_url="sqlite:///x.db")
    assert first.hs256_secret == missing.read_text().strip().encode()
    assert len(first.hs256_secret or b"") == 64
    assert "secret" not in repr(first).replace("hs256_secret", "")
    with pytest.raises(WebSettingsError, match="the file exists; it is kept"):
        create_local_secret(missing)
    assert Settings.from_env(env, db_url="sqlite:///x.db").hs256_secret == first.hs256_secret


def test_a_user_token_without_user_id_cannot_be_minted(served):
    with pytest.raises(TokenError, match="must carry 'user_id'"):
        served.token("user")


def test_create_app_reads_the_environment(served, monkeypatch):
    for name in ("RECOMPENSE_JWT_SECRET_FILE", "RECOMPENSE_JWT_PUBLIC_KEY"):
        monkeypatch.delenv(name, raising=False)  # the host's own settings are not the test's
    monkeypatch.setenv("RECOMPENSE_DB_URL", served.url)
    monkeypatch.setenv("RECOMPENSE_JWT_SECRET", SECRET)
    app = create_app(warm=False)
    assert app.state.settings.db_url == served.url
