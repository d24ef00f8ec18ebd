"""`python tests/egress_guard.py <report> <script> [args]`: runs <script> as __main__ with the socket layer watched
(sys.addaudithook). Every connect, sendto or name lookup aimed beyond loopback is written to <report>, one line
each, and refused, so a probe never leaves the machine while the test reads what was attempted."""
from __future__ import annotations

import ipaddress
import os
import runpy
import sys
from typing import Any

LOCAL_NAMES = {None, "", "localhost", "localhost.localdomain"}


def _loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False  # a name that must be resolved: a lookup beyond this machine


def main() -> None:
    report, script, *rest = sys.argv[1:]

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in ("socket.connect", "socket.sendto"):
            address = args[1]
            if not isinstance(address, tuple) or _loopback(address[0]):  # AF_UNIX paths stay on the machine
                return
        elif event == "socket.getaddrinfo":
            if _loopback(args[0]):
                return
            address = (args[0], args[1])
        else:
            return
        with open(report, "a") as out:
            out.write(f"{event} {address!r}\n")
        raise PermissionError(f"egress refused by the test: {event} {address!r}")

    sys.addaudithook(hook)
    sys.argv = [script, *rest]
    # As `python <script>` would: its own folder first on the path, not tests/ (whose teams.py would shadow teams/).
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
