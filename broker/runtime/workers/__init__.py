"""Several processes serving one instance's API (``api_processes`` > 1, local mode).

One Python process tops out at one core, so the main process of ``broker
run`` can start API workers. It accepts the API's connections and deals them
to the workers in turn (``handoff``). Each worker has its own store
connection and region CAs over the same state folder. The main process
keeps what must have one owner: the gateways and the single writer of each
region's audit chain. Workers send their events to it over a private
socketpair (``wire``, ``channel``); it writes them (``hub``), answers their
flush requests before audit reads, and sums their metrics. ``supervisor``
starts, restarts and stops the workers; ``worker`` is the worker process
itself.
"""
