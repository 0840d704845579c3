"""What the ASGI servers leave at a default too short for us, set when the ASGI module loads.

Daphne (through autobahn) aborts a WebSocket whose peer has not answered the server's
close frame within one second, and an abort throws away what the socket still had to
send. Our consumer closes right after a task's terminal state, so under load (thousands
of watchers reading slowly) that state was lost for whole batches of sockets. Daphne has
no option for it; its WebSocket factory is given a longer close handshake here instead.
Uvicorn closes gracefully after its own 10 s and needs nothing.
"""

from __future__ import annotations

import sys
from typing import Any


def lengthen_daphne_close_handshake(seconds: float) -> bool:
    """Give every WebSocket factory Daphne makes from now on a `seconds` close handshake.

    Does nothing (False) when Daphne is not the server in this process: it only patches a
    Daphne that is already imported, so Uvicorn or a test client never load Twisted.
    """
    module = sys.modules.get("daphne.ws_protocol")
    if module is None:
        return False
    factory = module.WebSocketFactory
    if getattr(factory, "close_handshake_timeout", None) == seconds:
        return True
    original = getattr(factory, "_unpatched_init", factory.__init__)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        # Daphne's own setProtocolOptions call, made after this, leaves this option alone.
        self.setProtocolOptions(closeHandshakeTimeout=seconds)

    factory._unpatched_init = original
    factory.__init__ = __init__
    factory.close_handshake_timeout = seconds
    return True
