"""``[console]``: sign-in issuers and timeouts, checked at load with errors naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from broker.config import config_from_mapping, load_config
from broker.config.console import console_settings
from broker.errors import InputError

STAFF = {
    "issuer": "https://login.example.com",
    "client_id": "broker-console",
    "roles": {"support": "engineer", "support-leads": "ops"},
}
ACME = {
    "org": "acme-de",
    "issuer": "https://idp.acme.example/realms/main",
    "client_id": "broker",
    "org_claim": "tenant",
    "roles": {"it-admins": "customer_admin"},
}


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``base`` with keys changed (None: removed)."""
    merged = {**base, **changes}
    return {k: v for k, v in merged.items() if v is not None}


class TestConsoleSettings:
    """Parsing the table."""

    def test_empty_is_local_default(self) -> None:
        """No table: no issuers (local sign-in links only), 30 min idle, 8 h absolute."""
        settings = console_settings({})
        assert settings.staff is None
        assert settings.orgs == ()
        assert (settings.idle_timeout_seconds, settings.absolute_timeout_seconds) == (1800, 28800)

    def test_staff_and_org_issuers(self) -> None:
        """Each issuer keeps its client, role map and (for an org) the org and its claim."""
        settings = console_settings({"staff": STAFF, "orgs": [ACME]})
        assert settings.staff is not None
        assert settings.staff.roles["support-leads"] == "ops"
        acme = settings.issuer_for("acme-de")
        assert acme is not None
        assert (acme.org, acme.org_claim) == ("acme-de", "tenant")
        assert settings.issuer_for("shop-us") is None

    def test_file_is_checked_at_load(self, tmp_path: Path) -> None:
        """A TOML file's ``[console]`` table is validated when the config loads."""
        path = tmp_path / "broker.toml"
        path.write_text('[console.staff]\nissuer = "ftp://x"\nclient_id = "c"\n')
        with pytest.raises(InputError) as caught:
            load_config(path)
        assert caught.value.field == "console.staff.issuer"


BAD: list[Any] = [
    pytest.param({"colour": "blue"}, "console.colour", id="unknown-key"),
    pytest.param({"staff": with_(STAFF, issuer="http://login.example.com")},
                 "console.staff.issuer", id="plain-http-off-loopback"),
    pytest.param({"staff": with_(STAFF, client_id="")}, "console.staff.client_id", id="no-client"),
    pytest.param({"staff": with_(STAFF, roles={})}, "console.staff.roles", id="no-roles"),
    pytest.param({"staff": with_(STAFF, roles={"x": "customer_admin"})},
                 "console.staff.roles.x", id="staff-issuer-makes-customer-admins"),
    pytest.param({"staff": with_(STAFF, roles={"x": "root"})}, "console.staff.roles.x",
                 id="unknown-role"),
    pytest.param({"staff": with_(STAFF, scopes=["email"])}, "console.staff.scopes",
                 id="no-openid-scope"),
    pytest.param({"staff": with_(STAFF, org="acme-de")}, "console.staff.org", id="staff-org"),
    pytest.param({"orgs": [with_(ACME, org=None)]}, "console.orgs[0].org", id="org-missing"),
    pytest.param({"orgs": [with_(ACME, roles={"x": "ops"})]}, "console.orgs[0].roles.x",
                 id="org-issuer-makes-ops"),
    pytest.param({"orgs": [ACME, ACME]}, "console.orgs", id="org-twice"),
    pytest.param({"idle_timeout_seconds": 5}, "console.idle_timeout_seconds", id="idle-tiny"),
    pytest.param({"idle_timeout_seconds": 7200, "absolute_timeout_seconds": 3600},
                 "console.idle_timeout_seconds", id="idle-over-absolute"),
    pytest.param({"secure_cookies": "sometimes"}, "console.secure_cookies", id="cookie-mode"),
    pytest.param({"trust_forwarded_proto": "yes"}, "console.trust_forwarded_proto",
                 id="forwarded-not-bool"),
    pytest.param({"public_url": "console.example.com"}, "console.public_url", id="public-url"),
]  # fmt: skip


class TestRefusals:
    """Every refusal names its field; the config does not load."""

    @pytest.mark.parametrize(("table", "field"), BAD)
    def test_field_named(self, table: dict[str, Any], field: str) -> None:
        """The error's field is the offending key's path."""
        with pytest.raises(InputError) as caught:
            config_from_mapping({"console": table})
        assert caught.value.field == field
