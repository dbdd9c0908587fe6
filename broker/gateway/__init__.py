"""The regional SSH gateway: the data plane.

An engineer's stock OpenSSH client logs in with a session certificate signed
by this region's CA; the gateway checks the session in the store, allows one
PTY shell and nothing else, relays it to the target host in the same region
through the egress filter while recording it, and cuts it at expiry,
revocation or idle timeout.

Modules, one concern each:

- ``settings``: tunables of one regional gateway.
- ``hooks``: the output-filter and recorder seams (``broker.egress`` and
  ``broker.recording`` implement them).
- ``keys``: the gateway's own host and client keys, kept in the region folder.
- ``certs``: pure checks of a presented certificate and of the session it names.
- ``intercept``: the few asyncssh connection internals we hook (pinned version).
- ``link``: one live engineer connection: counters, why-line, close bookkeeping.
- ``server``: the per-connection asyncssh ``SSHServer`` (auth, forwarding denials).
- ``channel``: the session-channel policy (PTY shell only).
- ``upstream``: where the target is and which key logs in (inventory or, in
  AWS mode, ``broker.aws.upstream``: EC2 tags + Instance Connect).
- ``relay``: the asyncssh client leg to the target.
- ``watcher``: expiry, revocation and idle termination; ``watch_thread`` runs
  it on a thread of its own, so cuts never wait behind relay work.
- ``tuning``: the asyncssh speed fixes, probed at start.
- ``gateway``: ``Gateway`` ties them together: ``start()`` / ``stop()``.

The output filter (``broker.egress``), the recorder (``broker.recording``)
and the demo target host (``broker.demo``) live in packages of their own:
the viewer and the CLI use the first two without the SSH server.
"""

from __future__ import annotations
