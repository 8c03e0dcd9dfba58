"""FastAGI adapter (panoramisk): a server the dialplan calls for look-ups it cannot do itself."""
