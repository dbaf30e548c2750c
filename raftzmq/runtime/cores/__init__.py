"""Plug-in cores: loading and probing a core from a spec, and cores in other languages over JSON lines."""
