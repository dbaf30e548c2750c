"""What a cluster needs from this machine: free loopback ports and memory. Checked before anything starts."""
from __future__ import annotations

import socket

from raftzmq.runtime.cluster.errors import SupervisorError

__all__ = ["free_ports", "check_ports_free", "check_capacity", "tcp_endpoint"]

_RSS_PER_NODE_BYTES = 40 * 2**20  # the per-node RSS budget (docs/benchmarks.md), used to refuse absurd --nodes


def free_ports(host: str, count: int) -> list[int]:
    # Hold every socket until all are chosen so the kernel cannot hand out one port twice.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def check_ports_free(host: str, ports: list[int]) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for node, port in enumerate(ports, 1):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            # As libzmq binds: with SO_REUSEADDR, so a closed connection in TIME_WAIT does not count as "in use".
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError as exc:
                raise SupervisorError(f"port {port} (node {node}) on {host} is not available: {exc.strerror}; "
                                      "choose another base_port or 0 for free ports") from None


def check_capacity(nodes: int) -> None:
    try:
        with open("/proc/meminfo") as f:
            avail = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return
    if nodes * _RSS_PER_NODE_BYTES > avail * 0.8:
        raise SupervisorError(f"{nodes} nodes need about {nodes * 40} MB of memory; only "
                              f"{avail // 2**20} MB are available")


def tcp_endpoint(host: str, port: int) -> str:
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"
