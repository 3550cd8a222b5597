"""What an idle authenticated connection holds (issue 24): one trio task, its
reader; a writer task only while the kernel has no room for the session's bytes."""

from __future__ import annotations

import trio

from corpchat.protocol import Ping

from ..client import RawWs


def _tasks_under(task: trio.lowlevel.Task) -> list[trio.lowlevel.Task]:
    found = [task]
    for nursery in task.child_nurseries:
        for child in nursery.child_tasks:
            found.extend(_tasks_under(child))
    return found


def connection_tasks() -> list[list[trio.lowlevel.Task]]:
    """The task tree of each served connection (its `Connection.run` task and below)."""
    root = trio.lowlevel.current_root_task()
    assert root is not None
    return [_tasks_under(task) for task in _tasks_under(root)
            if task.name.endswith("Connection.run")]


async def test_an_idle_authenticated_connection_is_one_task(nursery, server):
    ws = await RawWs.open(nursery, server.url)
    await ws.hello(await server.user("ann"))
    await ws.request(Ping(id=2))  # a request answered: the connection is idle again
    await ws.receive()
    [tree] = connection_tasks()
    assert len(tree) == 1, [t.name for t in tree]
    await ws.aclose()

