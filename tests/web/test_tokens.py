"""Token verification: RS256 and HS256 accepted; anything else is 401, with the reason."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from web_support import AUDIENCE, ISSUER, SECRET, settings_for

from recompense.web.app import create_app
from recompense.web.auth import COOKIE, Principal, TokenError, Verifier
from recompense.web.errors import WebSettingsError
from recompense.web.settings import Settings


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
    assert me.status_code == 200 and me.json()["user_id"] == served.owner


def test_sign_in_sets_an_httponly_lax_cookie_and_refuses_bad_tokens(served):
    client = served.client()
    token = served.token("user", served.owner)
    answer = client.get(f"/login?token={token}&next=/hub", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/hub"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={token}")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert client.get("/hub").status_code == 200  # the cookie signs in
    bad = client.get("/login?token=forged.token.value", headers={"Accept": "text/html"})
    assert bad.status_code == 401
    assert 'data-testid="signin-error"' in bad.text


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "evil"])
def test_sign_in_never_redirects_off_site(served, target):
    token = served.token("user", served.owner)
    answer = served.client().get(
        "/login", params={"token": token, "next": target}, follow_redirects=False
    )
    assert answer.headers["location"] == "/"


def test_settings_refuse_weak_or_malformed_keys(tmp_path):
    with pytest.raises(WebSettingsError, match="at least 32"):
        Settings.from_env({"RECOMPENSE_JWT_SECRET": "short"}, db_url="sqlite:///x.db")
    with pytest.raises(WebSettingsError, match="not a PEM public key"):
        Settings.from_env({"RECOMPENSE_JWT_PUBLIC_KEY": "hello"}, db_url="sqlite:///x.db")
    with pytest.raises(WebSettingsError, match="no database"):
        Settings.from_env({"RECOMPENSE_JWT_SECRET": SECRET})


def test_without_keys_the_local_secret_file_is_made_once(tmp_path):
    path = tmp_path / "secret" / "jwt"
    env = {"RECOMPENSE_JWT_SECRET_FILE": str(path)}
    first = Settings.from_env(env, db_url="sqlite:///x.db")
    again = Settings.from_env(env, db_url="sqlite:///x.db")
    assert first.hs256_secret == again.hs256_secret and len(first.hs256_secret or b"") == 64
    assert path.stat().st_mode & 0o777 == 0o600
    assert "secret" not in repr(first).replace("hs256_secret", "")


def test_a_user_token_without_user_id_cannot_be_minted(served):
    with pytest.raises(TokenError, match="must carry 'user_id'"):
        served.token("user")


def test_create_app_reads_the_environment(served, monkeypatch):
    monkeypatch.setenv("RECOMPENSE_DB_URL", served.url)
    monkeypatch.setenv("RECOMPENSE_JWT_SECRET", SECRET)
    app = create_app(warm=False)
    assert app.state.settings.db_url == served.url
