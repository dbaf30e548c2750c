"""Real processes, sockets and disks: one node (node/), the cluster around it (cluster/), plug-in cores (cores/)."""
