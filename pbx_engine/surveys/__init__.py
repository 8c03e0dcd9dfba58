"""Surveys after a conversation, by phone: the keypad survey a debtor hears when his agent ends
the call (a campaign's `[survey]`; the questions' state machine is `ari_apps.survey_call`).
The SMS and e-mail surveys are messages (`pbx_engine.messaging.surveys`)."""

from pbx_engine.surveys.calls import CallSurveys

__all__ = ["CallSurveys"]
