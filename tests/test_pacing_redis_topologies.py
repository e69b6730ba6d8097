"""The ``redis`` store on Redis as companies run it (issue #21, item 4): a Redis Cluster, Sentinel
with a failover, and a Redis user limited to what the README's ACL grants. Every server is started
here, on free ports with directories of its own, and stopped after."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_soda.endpoints import RateLimit
from airflow_provider_soda.pacing import FallbackStore
from airflow_provider_soda.pacing.redis_store import RedisStore
from airflow_provider_soda.pacing.stores import StoreMisconfigured, StoreUnavailable

pytestmark = pytest.mark.airflow_agnostic  # run once, by make test (not make test-compat)

LIMIT = RateLimit(10, 60)
REDIS_SERVER, REDIS_CLI = shutil.which("redis-server"), shutil.which("redis-cli")


def _need_redis_binaries() -> None:
    if REDIS_SERVER and REDIS_CLI:
        return
    message = "needs redis-server and redis-cli (apt-get install redis-server); under CI=true this fails"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    import random

    for _ in range(200):
        port = random.randint(20000, 50000)
        if _free(port) and _free(port + 10000):
            return port
    raise RuntimeError("no free port pair")


def wait_until(what: str, check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception:
            result = None
        if result:
            return result
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


class Servers:
    """redis-server processes of one test; all stopped at the end."""

    def __init__(self, base: Path) -> None:
        self.base, self.processes = base, []

    def start(self, name: str, *options: str, config: str | None = None) -> int:
        port = free_port()
        workdir = self.base / name
        workdir.mkdir()
        command = [str(REDIS_SERVER)]
        if config is not None:
            (workdir / "redis.conf").write_text(config.format(port=port, dir=workdir))
            command.append(str(workdir / "redis.conf"))
        command += ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir), *options]
        if "--sentinel" not in options:  # a sentinel keeps its own state in its config file
            command += ["--save", "", "--appendonly", "no"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(process)
        import redis

        wait_until(f"{name} on port {port}", lambda: redis.Redis(port=port, socket_timeout=0.5).ping())
        return port

    def stop(self) -> None:
        for process in self.processes:
            process.kill()
        for process in self.processes:
            process.wait()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    _need_redis_binaries()
    started = Servers(tmp_path)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def cluster(servers: Servers) -> str:
    """A three-master Redis Cluster; the URL of its first node."""
    ports = [
        servers.start(f"node{n}", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
        for n in range(3)
    ]
    subprocess.run(
        [str(REDIS_CLI), "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports), "--cluster-replicas", "0",
         "--cluster-yes"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    import redis

    for port in ports:
        wait_until(
            "the cluster",
            lambda p=port: b"cluster_state:ok" in redis.Redis(port=p).execute_command("CLUSTER", "INFO"),
        )
    return f"redis://127.0.0.1:{ports[0]}/0"


def schedules(store: RedisStore, count: int) -> list[Any]:
    return [store.apply(f"schedule-{n}", LIMIT, "reserve", [uuid.uuid4().hex, 5]) for n in range(count)]


def test_every_schedule_of_a_cluster_is_decided_on_its_own_node(cluster: str) -> None:
    store = RedisStore(cluster, prefix=f"soda-{uuid.uuid4().hex[:8]}")
    assert schedules(store, 12) == [[0, 0]] * 12  # before: 9 of 12 failed with MOVED
    assert store.topology == "cluster"
    assert [d for d, _ in schedules(store, 12)] == [0] * 12  # each schedule found its own state again
    second = schedules(store, 12)
    assert {position for _, position in second} == {2}


def test_a_cluster_found_by_its_moved_answer_when_info_is_denied(cluster: str) -> None:
    store = RedisStore(cluster, prefix=f"soda-{uuid.uuid4().hex[:8]}")
    store._is_cluster = lambda client: False  # type: ignore[method-assign] # as under an ACL without INFO
    assert schedules(store, 12) == [[0, 0]] * 12
    assert store.topology == "cluster"


def test_a_database_number_on_a_cluster_is_an_error_naming_the_fix(cluster: str) -> None:
    store = RedisStore(cluster.replace("/0", "/3"), prefix="p")
    with pytest.raises(StoreMisconfigured, match=r"Redis Cluster, which has only database 0: remove '/3'"):
        store.apply("k", LIMIT, "reserve", ["a", 5])


@pytest.fixture
def sentinel(servers: Servers) -> tuple[str, int, int]:
    """A master, a replica and one sentinel watching them: (store URL, master port, sentinel port)."""
    master = servers.start("master")
    replica = servers.start("replica", "--replicaof", "127.0.0.1", str(master))
    config = (
        "port {port}\nsentinel monitor soda 127.0.0.1 " + str(master) + " 1\n"
        "sentinel down-after-milliseconds soda 1000\nsentinel failover-timeout soda 3000\n"
    )
    port = servers.start("sentinel", "--sentinel", config=config)
    import redis

    wait_until(
        "the replica to sync",
        lambda: redis.Redis(port=replica).info("replication").get("master_link_status") == "up",
    )
    return f"redis+sentinel://127.0.0.1:{port}/soda", master, port


def test_sentinel_finds_the_new_master_after_a_failover(sentinel: tuple[str, int, int]) -> None:
    import redis

    url, master, sentinel_port = sentinel
    store = FallbackStore(RedisStore(url, prefix=f"soda-{uuid.uuid4().hex[:8]}"))
    assert store.apply("k", LIMIT, "reserve", ["before", 60]) == [0, 0]
    assert store.primary.topology == "sentinel"  # type: ignore[attr-defined]
    redis.Redis(port=master).execute_command("WAIT", 1, 2000)  # the booking reached the replica
    sentinels = redis.Redis(port=sentinel_port)
    sentinels.execute_command("SENTINEL", "FAILOVER", "soda")
    wait_until(
        "the failover",
        lambda: int(sentinels.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "soda")[1]) != master,
    )
    # The old master comes back as a replica that answers writes with READONLY: the store asks the
    # sentinels again instead of falling back, and the booking made before the failover is there.
    wait_until(
        "the old master to be a replica",
        lambda: redis.Redis(port=master).info("replication")["role"] == "slave",
    )
    _, position = store.apply("k", LIMIT, "reserve", ["after", 60])
    assert position == 1
    assert store._down_until == 0  # type: ignore[attr-defined] # never fell back


def test_a_replica_given_as_the_store_says_what_to_do(sentinel: tuple[str, int, int]) -> None:
    import redis

    _, master, _ = sentinel
    replica_port = (
        next(
            int(line.split(",")[1].split("=")[1])
            for key, line in redis.Redis(port=master).info("replication").items()
            if key.startswith("slave") and isinstance(line, str)
        )
        if False
        else None
    )
    replicas = redis.Redis(port=master).info("replication")
    replica_port = int(next(v["port"] for k, v in replicas.items() if k.startswith("slave")))
    store = RedisStore(f"redis://127.0.0.1:{replica_port}/0", prefix="p")
    with pytest.raises(StoreUnavailable, match=r"read-only replica .* redis\+sentinel://"):
        store.apply("k", LIMIT, "reserve", ["a", 5])


#: What docs/running-at-scale.md's "Redis users and ACLs" grants, for a prefix (a Cluster adds CLUSTER_RULES).
def acl_rules(prefix: str) -> list[str]:
    return [
        "on",
        ">acl-pw",
        f"~{prefix}:*",
        "+evalsha",
        "+eval",
        "+script|load",
        "+get",
        "+set",
        "+time",
        "+info",
    ]


CLUSTER_RULES = ["+cluster|slots", "+cluster|shards", "+command"]


def test_the_documented_acl_is_enough_on_a_cluster(cluster: str) -> None:
    import redis

    prefix = f"soda-{uuid.uuid4().hex[:8]}"
    nodes = redis.RedisCluster.from_url(cluster).get_nodes()
    for node in nodes:
        redis.Redis(host=node.host, port=node.port).execute_command(
            "ACL", "SETUSER", "soda", *acl_rules(prefix), *CLUSTER_RULES
        )
    store = RedisStore(cluster.replace("redis://", "redis://soda:acl-pw@"), prefix=prefix)
    assert schedules(store, 12) == [[0, 0]] * 12


def test_the_documented_acl_is_enough_and_no_more_is_needed(servers: Servers) -> None:
    import redis

    port = servers.start("acl")
    prefix = f"soda-{uuid.uuid4().hex[:8]}"
    redis.Redis(port=port).execute_command("ACL", "SETUSER", "soda", *acl_rules(prefix))
    store = RedisStore(f"redis://soda:acl-pw@127.0.0.1:{port}/0", prefix=prefix)
    assert store.apply("k", LIMIT, "reserve", ["a", 5]) == [0, 0]
    assert store.apply("k", LIMIT, "claim", ["a", 30, 5]) == 0
    assert store.apply("k", LIMIT, "release", ["a", True]) == 0
    other = RedisStore(f"redis://soda:acl-pw@127.0.0.1:{port}/0", prefix="not-granted")
    with pytest.raises(StoreMisconfigured, match="lacks a permission") as excinfo:
        other.apply("k", LIMIT, "reserve", ["a", 5])
    assert "acl-pw" not in str(excinfo.value)
    assert json.loads(redis.Redis(port=port).get(f"{prefix}:k"))["v"] == 1
