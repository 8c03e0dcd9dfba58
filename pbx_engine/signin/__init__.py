"""Signing in from a browser: password hashes and session tokens (pure, stdlib only).

Passwords are hashed with scrypt and a random salt; sessions are random ids of which only a
SHA-256 is stored, each with its own CSRF token that state-changing requests must echo.
"""
