"""ARI adapter: the REST client, the events websocket and typed event models.

Asterisk vocabulary (channels, bridges, playbacks) stays in this package; the rest of the
engine speaks of calls, attempts and agents."""
