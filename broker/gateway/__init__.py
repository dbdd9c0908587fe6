"""The regional SSH gateway: the data plane.

An engineer's stock OpenSSH client logs in with a session certificate signed
by this region's CA; the gateway checks the session in the store, allows one
PTY shell and nothing else, relays it to the target host in the same region
through the egress filter while recording it, and cuts it at expiry,
revocation or idle timeout.

Modules, one concern each:

- ``settings``: tunables of one regional gateway.
- ``hooks``: the output-filter and recorder seams (``egress`` implements them).
- ``keys``: the gateway's own host and client keys, kept in the region folder.
- ``certs``: pure checks of a presented certificate and of the session it names.
- ``intercept``: the few asyncssh connection internals we hook (pinned version).
- ``link``: one live engineer connection: counters, why-line, close bookkeeping.
- ``server``: the per-connection asyncssh ``SSHServer`` (auth, forwarding denials).
- ``channel``: the session-channel policy (PTY shell only).
- ``upstream``: where the target is and which key logs in (inventory or, in
  AWS mode, ``broker.aws.upstream``: EC2 tags + Instance Connect).
- ``relay``: the asyncssh client leg to the target.
- ``egress`` / ``egress_rules``: the stateful terminal-output filter.
- ``recorder`` / ``castfile`` / ``recordings`` / ``replay``: asciicast v2
  recording in the region, crash repair, reading and replay.
- ``demo_target`` / ``demo_shell``: the local-mode demo host (bash on a PTY);
  ``demo_process`` runs one per region in a child process of ``broker run``.
- ``watcher``: expiry, revocation and idle termination; ``watch_thread`` runs
  it on a thread of its own, so cuts never wait behind relay work.
- ``gateway``: ``Gateway`` ties them together: ``start()`` / ``stop()``.
"""

from __future__ import annotations
