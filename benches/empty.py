"""startup: an empty script (vesper's start and clean shutdown, nothing else)."""
