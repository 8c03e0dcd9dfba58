"""Call recording: the campaign's policy (nothing, the mixed call, or each leg apart), file
names that tie every file to its attempt, pause/resume while card details are read out, and
deletion once the retention period is over. The pure policy is `policy`; the ARI side is
`service.CallRecorder`."""

from pbx_engine.recording.policy import RecordingMode, RecordingPolicy, plan_recordings

__all__ = ["RecordingMode", "RecordingPolicy", "plan_recordings"]
