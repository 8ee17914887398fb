"""A production environment passes Django's deployment checks with no warning at all."""

import secrets

from tests.foundation.helpers import run_manage

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "HTTPS": "true",
    "ALLOWED_HOSTS": "roomtone.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://roomtone.example.com",
}


def test_check_deploy_is_clean_in_production():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_without_https():
    # The same environment without HTTPS must be flagged: the check above is not vacuous.
    env = dict(PRODUCTION, HTTPS="false")
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode != 0
    assert "security.W008" in result.stderr + result.stdout  # SECURE_SSL_REDIRECT
