"""The demo target, driven by real clients: OpenSSH's ``ssh`` and paramiko."""

from __future__ import annotations

import asyncio
import re
import signal
import stat
from collections.abc import Callable
from pathlib import Path

import asyncssh
import paramiko
import pytest

from broker.demo.target import HOST_KEY_FILE, DemoTarget
from tests.demo.conftest import DEMO_REGION, ClientKey


@pytest.fixture
def broker_sigint(request):
    """SIGINT as the broker process holds it while the test runs (children inherit SIG_IGN)."""
    previous = signal.signal(signal.SIGINT, request.param)
    yield
    signal.signal(signal.SIGINT, previous)


REGION = DEMO_REGION
GUARD = 30.0  # seconds; only so a broken relay fails instead of hanging


def known_hosts(tmp_path: Path, demo: DemoTarget) -> Path:
    """A known_hosts file holding exactly the demo target's host key."""
    path = tmp_path / "known_hosts"
    path.write_text(f"[127.0.0.1]:{demo.port} {demo.host_key_openssh}\n")
    return path


async def run_ssh(
    tmp_path: Path, demo: DemoTarget, key: ClientKey, *args: str, stdin: bytes = b"", user="support"
) -> tuple[int, str, str]:
    """Run the OpenSSH client against ``demo``; return (status, stdout, stderr)."""
    options = {
        "IdentityFile": str(key.path),
        "IdentitiesOnly": "yes",
        "UserKnownHostsFile": str(known_hosts(tmp_path, demo)),
        "BatchMode": "yes",
        "StrictHostKeyChecking": "yes",
        "LogLevel": "ERROR",
    }
    argv = ["ssh", "-F", "/dev/null", "-p", str(demo.port)]
    for name, value in options.items():
        argv += ["-o", f"{name}={value}"]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        *args[:-1],
        f"{user}@127.0.0.1",
        *args[-1:],
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), GUARD)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def connect(demo: DemoTarget, key: ClientKey, hosts: Path) -> paramiko.SSHClient:
    """A paramiko client that trusts only the demo target's known host key."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        "127.0.0.1",
        port=demo.port,
        username="support",
        key_filename=str(key.path),
        allow_agent=False,
        look_for_keys=False,
        timeout=GUARD,
    )
    return client


def read_until(chan: paramiko.Channel, pattern: str) -> re.Match[bytes]:
    """Read the shell's output until ``pattern`` matches it."""
    seen = b""
    while (match := re.search(pattern.encode(), seen)) is None:
        chunk = chan.recv(65536)
        assert chunk, f"channel closed before {pattern!r}; got {seen[-500:]!r}"
        seen += chunk
    return match


def read_to_end(chan: paramiko.Channel) -> tuple[bytes, int]:
    """All output until the channel closes, and the exit status."""
    chunks = []
    while chunk := chan.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks), chan.recv_exit_status()


def shell(client: paramiko.SSHClient, width: int = 80, height: int = 24) -> paramiko.Channel:
    """An interactive shell on a PTY, with a guard timeout on reads."""
    chan = client.invoke_shell(term="xterm", width=width, height=height)
    chan.settimeout(GUARD)
    return chan


def transcript(demo: DemoTarget, key: ClientKey, hosts: Path, typed: bytes) -> tuple[bytes, int]:
    """Type ``typed`` into a paramiko shell; return everything it printed and its status."""
    client = connect(demo, key, hosts)
    try:
        chan = shell(client)
        chan.sendall(typed)
        return read_to_end(chan)
    finally:
        client.close()


def gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (absent, or a zombie nobody reaped yet)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return True
    return fields[0] == "Z"


async def eventually(predicate: Callable[[], bool]) -> bool:
    """Whether ``predicate`` holds, waiting (bounded) for the kernel to catch up."""
    for _ in range(200):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return False


def comm(pid: int) -> str:
    """The program name of ``pid`` ("" once it is gone)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return ""


@pytest.mark.ssh
class TestOpenSSHClient:
    """The stock OpenSSH client gets a real login shell on a PTY, and nothing else."""

    async def test_shell_runs_commands_on_a_pty_and_relays_exit_status(
        self, tmp_path, target, client_key
    ):
        """`ssh -tt`: arithmetic works, tty is a /dev/pts device, exit 3 comes back."""
        status, out, _ = await run_ssh(
            tmp_path, target, client_key, "-tt", stdin=b"echo $((6*7)); tty; exit 3\n"
        )
        lines = out.splitlines()
        assert status == 3
        assert "42" in lines
        assert any(re.fullmatch(r"/dev/pts/\d+", line) for line in lines)

    async def test_is_clearly_named_as_a_demo(self, tmp_path, target, client_key):
        """The first line and the prompt both say this is the region's demo host."""
        _, out, _ = await run_ssh(tmp_path, target, client_key, "-tt", stdin=b"exit\n")
        assert out.startswith(f"DEMO TARGET for region {REGION} -- not a customer system")
        assert f"support@demo-{REGION}:~" in out

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (("echo hi",), "exec request failed"),
            (("-s", "sftp"), "subsystem request failed"),
            (("-T",), "shell request failed"),
        ],
        ids=["exec", "sftp-subsystem", "shell-without-pty"],
    )
    async def test_refuses_everything_but_a_pty_shell(
        self, tmp_path, target, client_key, args, message
    ):
        """`ssh host cmd`, subsystems and a PTY-less shell are refused with a clear message."""
        status, out, err = await run_ssh(tmp_path, target, client_key, *args)
        assert status != 0
        assert message in err
        assert "hi" not in out

    async def test_unauthorized_key_is_refused(self, tmp_path, target, stranger_key):
        """A key outside the authorized set cannot log in."""
        status, out, err = await run_ssh(tmp_path, target, stranger_key, "-tt", stdin=b"exit\n")
        assert status == 255
        assert "Permission denied (publickey)" in err
        assert "DEMO TARGET" not in out

    async def test_other_login_names_are_refused(self, tmp_path, target, client_key):
        """Even the authorized key logs in only as the configured user."""
        status, _, err = await run_ssh(
            tmp_path, target, client_key, "-tt", stdin=b"exit\n", user="root"
        )
        assert status == 255
        assert "Permission denied (publickey)" in err

    async def test_host_key_persists_across_restarts(self, tmp_path, client_key):
        """A restarted demo target (new object, same folder) presents the same host key."""
        folder = tmp_path / "demo-target"
        first = DemoTarget(REGION, folder, [client_key.public])
        port = await first.start()
        known_hosts(tmp_path, first)
        await first.stop()
        second = DemoTarget(REGION, folder, [client_key.public])
        await second.start(port=port)
        try:
            status, _, err = await run_ssh(tmp_path, second, client_key, "-tt", stdin=b"exit 0\n")
        finally:
            await second.stop()
        assert (status, err) == (0, "")
        assert second.host_key_openssh == first.host_key_openssh
        assert stat.S_IMODE((folder / HOST_KEY_FILE).stat().st_mode) == 0o600


class TestParamikoClient:
    """paramiko as a second client: shell, resize, forwarding refusals, clean stop."""

    async def test_shell_runs_commands_and_relays_exit_status(self, tmp_path, target, client_key):
        """invoke_shell: 42, a /dev/pts tty and exit status 3."""
        hosts = known_hosts(tmp_path, target)
        typed = b"echo $((6*7)); tty; exit 3\n"
        out, status = await asyncio.to_thread(transcript, target, client_key, hosts, typed)
        lines = out.decode().splitlines()
        assert status == 3
        assert "42" in lines
        assert any(re.fullmatch(r"/dev/pts/\d+", line) for line in lines)

    async def test_resize_reaches_the_pty(self, tmp_path, target, client_key):
        """The PTY starts at the requested size and follows resize_pty."""
        hosts = known_hosts(tmp_path, target)

        def session() -> tuple[bytes, bytes]:
            client = connect(target, client_key, hosts)
            try:
                chan = shell(client, width=100, height=30)
                chan.sendall(b"stty size\n")
                before = read_until(chan, r"\r(\d+ \d+)\r\n").group(1)
                chan.resize_pty(width=123, height=45)
                chan.sendall(b"stty size; exit\n")
                return before, read_until(chan, r"\r(\d+ \d+)\r\n").group(1)
            finally:
                client.close()

        assert await asyncio.to_thread(session) == (b"30 100", b"45 123")

    async def test_bulk_output_arrives_whole(self, tmp_path, target, client_key):
        """100 000 lines of output all arrive, in order, before the exit status."""
        hosts = known_hosts(tmp_path, target)
        typed = b"seq 100000 | sed s/^/n=/; exit 0\n"
        out, status = await asyncio.to_thread(transcript, target, client_key, hosts, typed)
        numbers = re.findall(rb"n=(\d+)\r\n", out)
        assert status == 0
        assert numbers == [str(n).encode() for n in range(1, 100001)]

    async def test_bulk_input_arrives_whole(self, tmp_path, target, client_key):
        """200 kB typed ahead (more than the PTY buffers) reaches the program intact."""
        hosts = known_hosts(tmp_path, target)
        body = (b"x" * 99 + b"\n") * 2000
        typed = b"stty -echo; cat > in.txt\n" + body + b"\x04wc -c < in.txt; exit\n"
        out, status = await asyncio.to_thread(transcript, target, client_key, hosts, typed)
        assert status == 0
        assert re.search(rb"(?m)^200000\r$", out)
        assert (target.home / "in.txt").read_bytes() == body

    async def test_environment_is_fresh_and_home_is_the_demo_home(
        self, tmp_path, target, client_key, monkeypatch
    ):
        """The broker's own environment (secrets) does not reach the shell; HOME is set."""
        monkeypatch.setenv("BROKER_TEST_SECRET", "s3cret")
        hosts = known_hosts(tmp_path, target)
        typed = b'echo "[${BROKER_TEST_SECRET:-unset}]"; echo "home=$HOME"; pwd; exit\n'
        out, _ = await asyncio.to_thread(transcript, target, client_key, hosts, typed)
        lines = out.decode().splitlines()
        assert "[unset]" in lines
        assert f"home={target.home}" in lines
        assert str(target.home) in lines
        assert b"s3cret" not in out

    async def test_port_forwarding_and_sftp_are_refused(self, tmp_path, target, client_key):
        """direct-tcpip (-L/-D/-W), tcpip-forward (-R) and sftp all fail."""
        hosts = known_hosts(tmp_path, target)

        def attempts() -> list[str]:
            client = connect(target, client_key, hosts)
            transport = client.get_transport()
            assert transport is not None
            refused = []
            try:
                transport.open_channel("direct-tcpip", ("127.0.0.1", target.port), ("127.0.0.1", 0))
            except paramiko.ChannelException as error:
                refused.append(f"direct-tcpip: {error.code}")
            try:
                transport.request_port_forward("127.0.0.1", 0)
            except paramiko.SSHException:
                refused.append("tcpip-forward")
            try:
                client.open_sftp()
            except paramiko.SSHException:
                refused.append("sftp")
            client.close()
            return refused

        refused = await asyncio.to_thread(attempts)
        prohibited = paramiko.common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        assert refused == [f"direct-tcpip: {prohibited}", "tcpip-forward", "sftp"]

    @pytest.mark.parametrize(
        "job",
        [b"sleep 1000", b"(trap '' HUP; exec sleep 1001)"],
        ids=["plain-job", "job-ignoring-sighup"],
    )
    async def test_stop_leaves_no_shell_or_job_behind(self, tmp_path, target, client_key, job):
        """stop() with a live shell hangs it up: bash and its background job are gone,
        even a job deaf to SIGHUP (the whole session is ended, not just bash's group)."""
        hosts = known_hosts(tmp_path, target)
        client = await asyncio.to_thread(connect, target, client_key, hosts)
        try:
            chan = await asyncio.to_thread(shell, client)
            chan.sendall(job + b" & echo PIDS=$$,$!.\n")
            match = await asyncio.to_thread(read_until, chan, r"PIDS=(\d+),(\d+)\.")
            bash, job_pid = int(match.group(1)), int(match.group(2))
            assert comm(bash) == "bash"
            assert await eventually(lambda: comm(job_pid) == "sleep")
            await target.stop()
            assert gone(bash)
            assert await eventually(lambda: gone(job_pid))
        finally:
            await asyncio.to_thread(client.close)


class _Collect(asyncssh.SSHClientSession[bytes]):
    """Collects a client session's output."""

    def __init__(self) -> None:
        self.output = b""
        self.changed = asyncio.Event()

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self.output += data
        self.changed.set()

    async def wait_for(self, marker: bytes) -> None:
        """Wait (guarded) until ``marker`` has been printed."""
        while marker not in self.output:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), GUARD)


class TestAsyncsshClient:
    """asyncssh, the gateway's own client library: signals and exit signals relay."""

    async def open(self, demo: DemoTarget, key: ClientKey):
        """A connection trusting only the demo target's host key, and a PTY shell on it."""
        hosts = asyncssh.import_known_hosts(f"[127.0.0.1]:{demo.port} {demo.host_key_openssh}\n")
        conn = await asyncssh.connect(
            "127.0.0.1",
            demo.port,
            username="support",
            client_keys=[str(key.path)],
            known_hosts=hosts,
            agent_path=None,
        )
        chan, session = await conn.create_session(_Collect, term_type="xterm", encoding=None)
        return conn, chan, session

    @pytest.mark.parametrize(
        "broker_sigint",
        [signal.default_int_handler, signal.SIG_IGN],
        ids=["handled", "ignored"],
        indirect=True,
    )
    async def test_signal_reaches_the_foreground_job(self, target, client_key, broker_sigint):
        """A SIGINT request interrupts the running program, not the login shell,
        even when the broker itself was started with SIGINT ignored (``&``, nohup)."""
        conn, chan, session = await self.open(target, client_key)
        async with conn:
            chan.write(
                b'bash -c \'trap "exit 7" INT; echo rea""dy; while :; do sleep 0.1; done\';'
                b" echo status=$?; exit 4\n"
            )
            await session.wait_for(b"ready\r\n")
            chan.send_signal("INT")
            await asyncio.wait_for(chan.wait_closed(), GUARD)
        assert b"status=7\r\n" in session.output
        assert chan.get_exit_status() == 4

    async def test_death_by_signal_is_reported_as_exit_signal(self, target, client_key):
        """A shell killed by SIGKILL is reported as exit-signal KILL."""
        conn, chan, _ = await self.open(target, client_key)
        async with conn:
            chan.write(b"kill -KILL $$\n")
            await asyncio.wait_for(chan.wait_closed(), GUARD)
        assert chan.get_exit_signal()[0] == "KILL"
