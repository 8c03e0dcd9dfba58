"""`check-config --connect`: every connection and credential the engine will use, tried once
before `run` (PostgreSQL, ARI's REST side, AMI) and the secrets left unset, one line each.

`policy` turns what was found into those lines and the exit code (pure); `probes` does the
connecting."""
