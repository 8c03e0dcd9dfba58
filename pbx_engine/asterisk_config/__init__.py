"""Asterisk's configuration, rendered from the engine's: one source for the sandboxes, the
container and a plain host (`pbx-engine asterisk render --config engine.toml --out DIR`, with
`--node NAME` for a media node of [[ari.nodes]] on another host).

The project's templates are `asterisk-config/common/*.conf`, then `asterisk-config/<profile>/
*.conf` (a profile file replaces a common file of the same name), and `dialplans/<profile>.conf`,
written as `etc/dialplan.conf`. `@@NAME@@` placeholders (a syntax that cannot clash with the
dialplan's `${VAR}`) are filled in; an unknown one is an error naming file and line:

    RUN_DIR MODULES_DIR DATA_DIR SOUNDS_DIR RECORDINGS_DIR   folders
    SYSTEM_NAME                                              asterisk.conf: the node's name
    HTTP_PORT ARI_USERNAME ARI_PASSWORD ARI_APP              ARI (http.conf, ari.conf, dialplan)
    HTTP_TLS                                                 http.conf: TLS for a remote node
    AMI_PORT AMI_USERNAME AMI_SECRET                         manager.conf
    SIP_HOST SIP_PORT PEER_HOST PEER_PORT                    pjsip.conf: own transport, the trunk
    RTP_START RTP_END AGI_URL AGENTS                         rtp.conf, FastAGI, agents' sections

`templates` holds the pure part (values from the engine's config, substitution), `tree` writes
a runtime folder: `etc/` and the folders Asterisk writes to (spool/recording for ARI recordings,
lib/keys, log, run, ...).
"""

from pbx_engine.asterisk_config.templates import (
    PLACEHOLDERS,
    RenderError,
    agent_sections,
    engine_values,
    render,
    render_profile,
)
from pbx_engine.asterisk_config.tree import RUNTIME_FOLDERS, make_runtime_folders, write_runtime

__all__ = [
    "PLACEHOLDERS",
    "RUNTIME_FOLDERS",
    "RenderError",
    "agent_sections",
    "engine_values",
    "make_runtime_folders",
    "render",
    "render_profile",
    "write_runtime",
]
