"""Around the nodes: the supervisor, process spawning, the control endpoint, run folders, configs, netns."""
