"""What the start scripts need that no tool does for them.

`start_dev.sh` and `start_all_services.sh` call it with one sub-command each:

  plan           check Redis, the ports and the secret key; print the shell exports (one-line
                 error, and nothing started, when something is wrong); for ./start_dev.sh,
                 also write the embedded Redis's program file, or remove it (dev_include)
  redis-server   run the embedded redis-server for REDIS_URL (data in run/redis)
  summary        the block printed once the stack is ready
  memory         RSS and PSS of every process of a running stack, per supervisord program

supervisord runs and restarts the processes, scripts/reload.py restarts the worker and the
web server when code changes (development), and `manage.py doctor --wait` decides when
the stack is ready. This reads the same variables as django_starter/settings.py, and
`.env` the same way. Each concern has its module in scripts/startup/.

Other users of the machine get nothing: what the stack writes (logs/, run/, the SQLite
database) is the user's alone (umask 077, and 0700/0600 for what an earlier run left), the
embedded Redis asks for a password made on the first run (run/redis.password), and so does
Flower (FLOWER_BASIC_AUTH, else run/flower.password).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

if not __package__:  # run as `python scripts/stack.py`: the project's root is not on the path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.startup.embedded_redis import dev_include, exec_redis_server
from scripts.startup.environment import StackError
from scripts.startup.plan import plan
from scripts.startup.report import memory_table, summary
from scripts.startup.web import WEB_SERVERS

__all__ = ["WEB_SERVERS", "main"]  # bench/servers.py reads the web servers' commands here


def main(argv: list[str] | None = None) -> int:
    """Parse the sub-command and run it; a StackError becomes one line on stderr."""
    parser = argparse.ArgumentParser(prog="scripts/stack.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("plan")
    p.add_argument("--script", default="./start_dev.sh")
    p.add_argument("--production", action="store_true")
    commands.add_parser("redis-server")
    p = commands.add_parser("summary")
    p.add_argument("--stop-hint", default="Ctrl-C")
    p.add_argument("--logs", default="logs/")
    p = commands.add_parser("memory")
    p.add_argument("--config", default="deploy/supervisord-dev.conf")
    args = parser.parse_args(argv)

    os.umask(0o077)  # what this creates (passwords, Redis's data) is the user's alone
    try:
        if args.command == "plan":
            exports = plan(args.script, args.production)
            if not args.production:
                embedded = exports["STARTER_EMBEDDED_REDIS"] == "true"
                exports["STARTER_DEV_INCLUDE"] = dev_include(embedded)
            for name, value in exports.items():
                print(f"export {name}={shlex.quote(value)}")
        elif args.command == "redis-server":
            exec_redis_server()
        elif args.command == "summary":
            print(summary(args.stop_hint, args.logs))
        elif args.command == "memory":
            print(memory_table(args.config))
    except StackError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
