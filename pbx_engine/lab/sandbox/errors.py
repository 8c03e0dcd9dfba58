class SandboxError(RuntimeError):
    """A sandbox could not start or stop; the message says what to fix."""
