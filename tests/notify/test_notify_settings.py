"""Settings from the environment, overrides, and errors that name the variable."""

from __future__ import annotations

import pytest

from recompense.errors import InputError
from recompense.notify import NotifySettings, NotifySettingsError


def test_defaults_without_environment():
    s = NotifySettings.from_env({})
    assert (s.smtp_host, s.smtp_port, s.smtp_starttls, s.rate) == ("127.0.0.1", 25, False, 0.0)
    assert s.push_url is None
    assert s.channels == ("email",)
    assert s.max_attempts == 8


def test_environment_is_parsed_and_overrides_win():
    env = {
        "RECOMPENSE_SMTP_HOST": "smtp.internal",
        "RECOMPENSE_SMTP_PORT": "587",
        "RECOMPENSE_SMTP_STARTTLS": "yes",
        "RECOMPENSE_SMTP_USERNAME": "rewards",
        "RECOMPENSE_SMTP_PASSWORD": "s3cret",
        "RECOMPENSE_MAIL_FROM": "Rewards <rewards@exchange.example>",
        "RECOMPENSE_PUSH_URL": "https://push.internal/v1/push",
        "RECOMPENSE_REDEEM_URL": "https://www.binance.com/en/my/coupon",
        "RECOMPENSE_NOTIFY_RATE": "250",
        "RECOMPENSE_NOTIFY_BATCH": "500",
        "RECOMPENSE_NOTIFY_MAX_ATTEMPTS": "12",
    }
    s = NotifySettings.from_env(env, rate=100.0, batch=None)

    assert (s.smtp_host, s.smtp_port, s.smtp_starttls) == ("smtp.internal", 587, True)
    assert s.smtp_username == "rewards"
    assert s.smtp_password == "s3cret"
    assert s.channels == ("email", "push")
    assert (s.rate, s.batch, s.max_attempts) == (100.0, 500, 12)  # None leaves the env value
    assert "s3cret" not in repr(s)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RECOMPENSE_SMTP_PORT": "smtp"}, "RECOMPENSE_SMTP_PORT='smtp': not a valid int"),
        ({"RECOMPENSE_SMTP_PORT": "70000"}, "RECOMPENSE_SMTP_PORT=70000: must be a TCP port"),
        ({"RECOMPENSE_SMTP_STARTTLS": "maybe"}, "RECOMPENSE_SMTP_STARTTLS='maybe'"),
        ({"RECOMPENSE_NOTIFY_RATE": "-1"}, "RECOMPENSE_NOTIFY_RATE=-1.0: must be ≥ 0"),
        ({"RECOMPENSE_PUSH_URL": "push.internal"}, "RECOMPENSE_PUSH_URL='push.internal'"),
        ({"RECOMPENSE_MAIL_FROM": "rewards"}, "RECOMPENSE_MAIL_FROM='rewards'"),
        ({"RECOMPENSE_SMTP_USERNAME": "u"}, "RECOMPENSE_SMTP_PASSWORD is not"),
        ({"RECOMPENSE_NOTIFY_LEASE_SECONDS": "20"}, "twice the send timeout"),
        ({"RECOMPENSE_NOTIFY_PROBE_BASE": "0"}, "RECOMPENSE_NOTIFY_PROBE_BASE=0.0: must be > 0"),
        (
            {"RECOMPENSE_NOTIFY_PROBE_BASE": "30", "RECOMPENSE_NOTIFY_PROBE_CAP": "10"},
            "RECOMPENSE_NOTIFY_PROBE_CAP=10.0: must be ≥ the probe base",
        ),
    ],
)
def test_bad_settings_name_the_variable_and_exit_2(env, message):
    with pytest.raises(NotifySettingsError, match=message.replace("(", r"\(")) as caught:
        NotifySettings.from_env(env)
    assert isinstance(caught.value, InputError)
    assert caught.value.exit_code == 2


def test_empty_optional_values_mean_unset():
    s = NotifySettings.from_env({"RECOMPENSE_PUSH_URL": "", "RECOMPENSE_SMTP_USERNAME": " "})
    assert s.push_url is None
    assert s.smtp_username is None


def test_settings_built_in_code_are_checked_too():
    with pytest.raises(NotifySettingsError, match="RECOMPENSE_NOTIFY_BATCH=0"):
        NotifySettings(batch=0)
    with pytest.raises(NotifySettingsError, match="RECOMPENSE_NOTIFY_LEASE_SECONDS"):
        NotifySettings().replace(lease_seconds=1)
