"""The suite's private Redis servers: each test process must get its own."""

from __future__ import annotations

import redis

from tests.support.processes import RedisServer


def test_a_private_redis_whose_port_was_taken_starts_again_on_another() -> None:
    """Two test processes starting at once can be handed the same free port: the one that
    binds second must not take the other's Redis for its own (they would share keys)."""
    first = RedisServer().start()
    second = RedisServer(port=first.port)  # the port another process took meanwhile
    try:
        second.start()
        assert second.port != first.port
        assert second.proc is not None
        own = redis.Redis(port=second.port)
        assert int(own.info("server")["process_id"]) == second.proc.pid
        own.close()
    finally:
        second.stop()
        first.stop()
