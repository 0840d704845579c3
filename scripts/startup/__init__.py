"""What scripts/stack.py does for the start scripts, one concern a module.

- `environment`: the project's folders and the variables the stack reads (`.env` too)
- `private`: what the stack keeps to its user (passwords, logs/, run/, the database)
- `checks`: what must be free before anything starts (ports, the control socket's path)
- `embedded_redis`: the Redis at REDIS_URL, or the one the stack starts itself
- `web`: the web server's command, its number of processes, its open-files limit
- `plan`: all of the above, as the shell exports a start script evaluates
- `report`: what a running stack prints (the ready block, the memory table)
"""
