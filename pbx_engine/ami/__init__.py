"""AMI adapter (panoramisk): a reconnecting manager connection and the queries the engine makes
through it where ARI has no answer (PJSIP endpoint and contact status)."""

from pbx_engine.ami.client import AmiClient, AmiError, EndpointStatus

__all__ = ["AmiClient", "AmiError", "EndpointStatus"]
