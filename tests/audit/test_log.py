"""Tests for broker.audit.log: one JSON pipeline, context ids, redaction everywhere."""

from __future__ import annotations

import ast
import importlib
import io
import json
import logging
from pathlib import Path

import pytest
import structlog

import broker
from broker.audit.keys import MemorySecretSource
from broker.audit.log import DROPPED, configure_logging, get_logger, log_context
from broker.audit.redact import Redactor

KEYS = {"eu-central-1": b"d" * 32, "us-east-1": b"u" * 32}
PHONE = "+49 30 901820"


@pytest.fixture
def output():
    """Configure logging into a buffer; restore the root logger afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    redactor = Redactor(MemorySecretSource(KEYS))
    configure_logging(redactor=redactor, stream=stream, level="DEBUG")
    yield stream, redactor
    root.handlers, root.level = saved
    structlog.reset_defaults()


def lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


class TestPipeline:
    """Every line is one JSON object with level, time and context."""

    def test_structlog_line_is_json_with_context(self, output):
        """Bound contextvars appear on the line; the time is UTC ISO."""
        stream, _ = output
        with log_context(request_id="r-1", session_id="s-1", region="eu-central-1"):
            get_logger("broker.test").info("session opened", bytes_in=5)
        (line,) = lines(stream)
        assert line["event"] == "session opened"
        assert (line["request_id"], line["session_id"], line["region"]) == (
            "r-1", "s-1", "eu-central-1")  # fmt: skip
        assert (line["level"], line["logger"], line["bytes_in"]) == ("info", "broker.test", 5)
        assert line["timestamp"].endswith("Z")

    def test_context_ends_with_the_block(self, output):
        """Outside log_context the ids are gone."""
        stream, _ = output
        with log_context(request_id="r-1"):
            pass
        get_logger().info("later")
        assert "request_id" not in lines(stream)[0]

    def test_level_filters(self, output):
        """Below the configured level nothing is written."""
        stream, _ = output
        logging.getLogger().setLevel(logging.WARNING)
        get_logger().info("quiet")
        assert stream.getvalue() == ""


class TestRedaction:
    """Nothing reaches the sink unredacted."""

    def test_message_and_fields_use_the_regions_key(self, output):
        """A number in the event and a field is pseudonymised under the line's region."""
        stream, redactor = output
        with log_context(region="eu-central-1"):
            get_logger().warning(f"call {PHONE}", detail={"contact": [f"mail a@b.example {PHONE}"]})
        (line,) = lines(stream)
        expected = redactor.text("eu-central-1", PHONE)
        assert line["event"] == f"call {expected}"
        assert expected in line["detail"]["contact"][0]
        assert "901820" not in stream.getvalue()
        assert "a@b.example" not in stream.getvalue()

    def test_no_region_uses_a_process_key(self, output):
        """Without a region the line is still scrubbed."""
        stream, _ = output
        get_logger().info("x", note=PHONE, region="not a region")
        assert "901820" not in stream.getvalue()
        assert "tel:" in lines(stream)[0]["note"]

    def test_name_keys_are_dropped(self, output):
        """Values under name, email, user agent and secret keys are never written."""
        stream, _ = output
        get_logger().info("login", name="Jane Doe", user_agent="Mozilla/5.0", token="t0k3n")
        (line,) = lines(stream)
        assert (line["name"], line["user_agent"], line["token"]) == (DROPPED,) * 3
        assert "Jane" not in stream.getvalue()

    def test_exception_text_is_scrubbed(self, output):
        """A traceback whose message holds a number is rendered, then scrubbed."""
        stream, _ = output
        try:
            raise ValueError(f"upstream said {PHONE}")
        except ValueError:
            get_logger().exception("failed")
        (line,) = lines(stream)
        assert "ValueError" in line["exception"]
        assert "901820" not in stream.getvalue()

    def test_stdlib_loggers_go_through_the_same_chain(self, output):
        """asyncssh-style %-formatted stdlib lines are JSON and scrubbed too."""
        stream, _ = output
        with log_context(session_id="s-9"):
            logging.getLogger("asyncssh").warning("Auth for %s from %s", "ops@example.com", PHONE)
        (line,) = lines(stream)
        assert line["logger"] == "asyncssh"
        assert line["session_id"] == "s-9"
        assert "ops@example.com" not in line["event"]
        assert "901820" not in stream.getvalue()

    def test_asyncssh_connection_chatter_is_not_logged(self, output):
        """asyncssh's per-connection INFO lines are dropped; its warnings stay (above)."""
        stream, _ = output
        logging.getLogger("asyncssh").info("Accepted SSH client connection")
        logging.getLogger("asyncssh.sftp").info("Starting SFTP server")
        assert lines(stream) == []


class TestOneLoggerStyle:
    """Every product module logs through structlog and so through this pipeline."""

    @pytest.mark.parametrize(
        ("module", "name"),
        [
            ("broker.gateway.context", "broker.gateway"),
            ("broker.recording.files", "broker.recording"),
            ("broker.demo.process", "broker.demo"),
            ("broker.api.middleware", "broker.api"),
        ],
    )
    def test_module_logger_lines_are_json_and_redacted(self, output, module, name):
        """A module's logger writes one JSON line under its name, phone numbers scrubbed."""
        stream, _ = output
        logger = importlib.import_module(module).log
        logger.warning("test.event", region="eu-central-1", detail=f"call {PHONE}")
        (line,) = lines(stream)
        assert (line["event"], line["logger"], line["level"]) == ("test.event", name, "warning")
        assert PHONE not in line["detail"]

    def test_no_module_uses_stdlib_logging_but_the_pipeline(self):
        """Only ``broker/audit/log.py`` touches ``logging`` (it routes foreign loggers)."""
        root = Path(broker.__file__).parent
        users = sorted(
            str(path.relative_to(root))
            for path in root.rglob("*.py")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Import) and any(a.name == "logging" for a in node.names)
        )
        assert users == ["audit/log.py"]
