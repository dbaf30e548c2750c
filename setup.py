from setuptools import find_packages, setup

setup(
    name="raftzmq",
    version="0.1.0",
    description="Watch and break Raft (election, replication, a KV store) on real processes over ZeroMQ",
    python_requires=">=3.11",
    packages=find_packages(include=["raftzmq", "raftzmq.*"]),
    package_data={"raftzmq.evidence": ["assets/*"]},  # the HTML report's template, stylesheet and script
    install_requires=["pyzmq>=25", "click>=8.1"],
    extras_require={
        # The Dask-versus-local identity test runs in CI, so the test extra brings the scheduler too.
        "test": ["pytest>=7", "hypothesis>=6", "distributed>=2024.1"],
        "dask": ["distributed>=2024.1"],  # `raftzmq sim --scheduler tcp://HOST:PORT`
        # `raftzmq bench kv` measures PySyncObj beside raftzmq in the same run (never a runtime dependency).
        "bench": ["pysyncobj>=0.3.12"],
    },
    entry_points={"console_scripts": ["raftzmq=raftzmq.cli:main"]},
)
