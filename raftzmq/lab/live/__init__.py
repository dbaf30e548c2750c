"""Fault campaigns against live clusters: the chaos nemesis, scripted scenarios, the frame fuzzer, link shapes."""
