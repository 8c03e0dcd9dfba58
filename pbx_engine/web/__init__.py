"""Web: the engine's HTTP API (health, calls); later the agent desktop and the wallboard."""
