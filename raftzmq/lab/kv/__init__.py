"""The KV workload's transport-free parts: operations and their schedule, and the recorder that writes history.jsonl;
shared by the live workload (lab/live/workload.py) and the simulated one (lab/sim/simkv.py)."""
