"""The debtor's menu when he calls back, as a pure state machine (DTMF in, prompts out).

    1  hear the balance (then the menu again)
    2  speak to my agent            -> ACD
    3  request a callback           -> a callback for his case, then goodbye
    4  promise a payment date: the day and month as four digits (DDMM) -> stored, then goodbye
    5  (when the engine can text one) a payment link by SMS  -> sent, then goodbye
No key within the wait, twice, or a key that means nothing three times: to an agent, as a
person who does not use menus expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Step(StrEnum):
    MENU = "menu"
    PROMISE_DATE = "promise_date"
    DONE = "done"


@dataclass(frozen=True)
class Play:
    """Prompts to play, by name: `menu`, `balance` (with the amount), `invalid`, ..."""

    prompts: tuple[str, ...]


@dataclass(frozen=True)
class Leave:
    """The menu is over: `agent`, `callback`, `promise` (with the date) or `pay_link`."""

    to: str
    promise_date: date | None = None


Action = Play | Leave


@dataclass
class DebtorMenu:
    today: date
    pay_link: bool = False  # 5 sends a payment link by SMS (else the menu offers no 5)
    step: Step = Step.MENU
    silences: int = 0
    mistakes: int = 0
    typed: str = ""

    MAX_SILENCES = 2
    MAX_MISTAKES = 3

    @property
    def _menu(self) -> str:
        return "menu_pay" if self.pay_link else "menu"

    def start(self) -> list[Action]:
        return [Play((self._menu,))]

    def key(self, digit: str) -> list[Action]:
        if self.step is Step.PROMISE_DATE:
            return self._date_digit(digit)
        if self.step is not Step.MENU:
            return []
        if digit == "1":
            return [Play(("balance", self._menu))]
        if digit == "2":
            return self._leave(Leave("agent"))
        if digit == "3":
            return self._leave(Leave("callback"))
        if digit == "4":
            self.step, self.typed = Step.PROMISE_DATE, ""
            return [Play(("promise_date",))]
        if digit == "5" and self.pay_link:
            return self._leave(Leave("pay_link"))
        return self._mistake()

    def silence(self) -> list[Action]:
        """Nothing pressed within the wait."""
        if self.step is Step.DONE:
            return []
        self.silences += 1
        if self.silences >= self.MAX_SILENCES:
            return self._leave(Leave("agent"))
        self.step, self.typed = Step.MENU, ""
        return [Play((self._menu,))]

    def _date_digit(self, digit: str) -> list[Action]:
        if not digit.isdigit():
            self.typed = ""
            return self._mistake(again="promise_date")
        self.typed += digit
        if len(self.typed) < 4:
            return []
        promised = _promise_date(self.typed, self.today)
        if promised is None:
            self.typed = ""
            return self._mistake(again="promise_date")
        return self._leave(Leave("promise", promised))

    def _mistake(self, again: str | None = None) -> list[Action]:
        self.mistakes += 1
        if self.mistakes >= self.MAX_MISTAKES:
            return self._leave(Leave("agent"))
        return [Play(("invalid", again or self._menu))]

    def _leave(self, leave: Leave) -> list[Action]:
        self.step = Step.DONE
        return [leave]


def _promise_date(ddmm: str, today: date) -> date | None:
    """DDMM as the next such day from today (within a year); None if it is no date."""
    day, month = int(ddmm[:2]), int(ddmm[2:])
    for year in (today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            return None
        if candidate >= today:
            return candidate
    return None
