from setuptools import find_packages, setup

setup(
    name="raftzmq",
    version="0.1.0",
    description="Watch and break Raft leader election on real processes over ZeroMQ",
    python_requires=">=3.11",
    packages=find_packages(include=["raftzmq", "raftzmq.*"]),
    package_data={"raftzmq.evidence": ["assets/*"]},  # the HTML report's template, stylesheet and script
    install_requires=["pyzmq>=25", "click>=8.1"],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6"],
    },
    entry_points={"console_scripts": ["raftzmq=raftzmq.cli:main"]},
)
