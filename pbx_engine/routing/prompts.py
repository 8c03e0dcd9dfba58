"""The debtor menu's prompts, in several languages: the words, the voice per language, and
where the engine finds each one (`pbx-ivr-<name>-<language>.wav` in `[inbound] menu_prompts`,
8 kHz 16-bit, what Playback and ARI play). The files are made by the lab's builder
(`pbx-engine prompts DIR`, `pbx_engine/lab/prompts.py`). Amounts are said by Asterisk
(`number:`), in English digits."""

from __future__ import annotations

from pathlib import Path

PROMPTS: dict[str, dict[str, str]] = {
    "en": {
        "menu": "To hear your balance, press 1. To speak to your agent, press 2. "
        "To be called back, press 3. To promise a payment date, press 4.",
        "menu_pay": "To hear your balance, press 1. To speak to your agent, press 2. "
        "To be called back, press 3. To promise a payment date, press 4. "
        "To receive a payment link by text message, press 5.",
        "pay_link_sent": "Thank you. The payment link is on its way to your mobile. Goodbye.",
        "pay_link_failed": "Sorry, we could not send the link. Please hold for an agent.",
        "balance": "Your balance is",
        "and": "and",
        "invalid": "Sorry, that is not a choice.",
        "promise_date": "Please enter the day and the month of your payment, as four digits.",
        "promise_thanks": "Thank you. Your promise is recorded. Goodbye.",
        "callback_booked": "Thank you. We will call you back shortly. Goodbye.",
        "USD": "dollars", "USD_minor": "cents",
        "EUR": "euros", "EUR_minor": "cents",
        "GBP": "pounds", "GBP_minor": "pence",
        "PLN": "zloty", "PLN_minor": "groszy",
    },
    "pl": {
        "menu": "Aby usłyszeć saldo, naciśnij 1. Aby rozmawiać z opiekunem, naciśnij 2. "
        "Aby zamówić oddzwonienie, naciśnij 3. Aby zadeklarować datę wpłaty, naciśnij 4.",
        "menu_pay": "Aby usłyszeć saldo, naciśnij 1. Aby rozmawiać z opiekunem, naciśnij 2. "
        "Aby zamówić oddzwonienie, naciśnij 3. Aby zadeklarować datę wpłaty, naciśnij 4. "
        "Aby otrzymać SMS z linkiem do płatności, naciśnij 5.",
        "pay_link_sent": "Dziękujemy. Link do płatności wysłaliśmy SMS-em. Do widzenia.",
        "pay_link_failed": "Niestety nie udało się wysłać linku. Proszę czekać na konsultanta.",
        "balance": "Twoje saldo wynosi",
        "and": "i",
        "invalid": "Nie ma takiej opcji.",
        "promise_date": "Wpisz dzień i miesiąc wpłaty, jako cztery cyfry.",
        "promise_thanks": "Dziękujemy. Deklaracja została zapisana. Do widzenia.",
        "callback_booked": "Dziękujemy. Wkrótce oddzwonimy. Do widzenia.",
        "USD": "dolarów", "USD_minor": "centów",
        "EUR": "euro", "EUR_minor": "centów",
        "GBP": "funtów", "GBP_minor": "pensów",
        "PLN": "złotych", "PLN_minor": "groszy",
    },
    "es": {
        "menu": "Para oír su saldo, pulse 1. Para hablar con su agente, pulse 2. "
        "Para que le llamemos, pulse 3. Para prometer una fecha de pago, pulse 4.",
        "menu_pay": "Para oír su saldo, pulse 1. Para hablar con su agente, pulse 2. "
        "Para que le llamemos, pulse 3. Para prometer una fecha de pago, pulse 4. "
        "Para recibir un enlace de pago por SMS, pulse 5.",
        "pay_link_sent": "Gracias. Le hemos enviado el enlace de pago por SMS. Adiós.",
        "pay_link_failed": "Lo siento, no pudimos enviar el enlace. Espere, le atiende un agente.",
        "balance": "Su saldo es",
        "and": "y",
        "invalid": "Lo siento, esa opción no existe.",
        "promise_date": "Marque el día y el mes de su pago, con cuatro cifras.",
        "promise_thanks": "Gracias. Su promesa ha quedado registrada. Adiós.",
        "callback_booked": "Gracias. Le llamaremos en breve. Adiós.",
        "USD": "dólares", "USD_minor": "centavos",
        "EUR": "euros", "EUR_minor": "céntimos",
        "GBP": "libras", "GBP_minor": "peniques",
        "PLN": "eslotis", "PLN_minor": "groszy",
    },
    "de": {
        "menu": "Für Ihren Kontostand drücken Sie die 1. Für Ihren Betreuer drücken Sie die 2. "
        "Für einen Rückruf drücken Sie die 3. Um ein Zahlungsdatum zuzusagen, drücken Sie die 4.",
        "menu_pay": "Für Ihren Kontostand drücken Sie die 1. Für Ihren Betreuer drücken Sie die 2. "
        "Für einen Rückruf drücken Sie die 3. Um ein Zahlungsdatum zuzusagen, drücken Sie die 4. "
        "Für einen Zahlungslink per SMS drücken Sie die 5.",
        "pay_link_sent": "Danke. Der Zahlungslink ist per SMS unterwegs. Auf Wiederhören.",
        "pay_link_failed": "Leider konnten wir den Link nicht senden. Bitte bleiben Sie dran.",
        "balance": "Ihr Saldo beträgt",
        "and": "und",
        "invalid": "Diese Auswahl gibt es leider nicht.",
        "promise_date": "Bitte geben Sie Tag und Monat Ihrer Zahlung als vier Ziffern ein.",
        "promise_thanks": "Danke. Ihre Zusage ist gespeichert. Auf Wiederhören.",
        "callback_booked": "Danke. Wir rufen Sie in Kürze zurück. Auf Wiederhören.",
        "USD": "Dollar", "USD_minor": "Cent",
        "EUR": "Euro", "EUR_minor": "Cent",
        "GBP": "Pfund", "GBP_minor": "Pence",
        "PLN": "Zloty", "PLN_minor": "Groszy",
    },
}  # fmt: skip

VOICES = {"en": "en", "pl": "pl", "es": "es", "de": "de"}


def prompt_path(directory: Path, name: str, language: str) -> str:
    """The prompt as ARI media (`sound:` and the file without its extension)."""
    if language not in PROMPTS or name not in PROMPTS[language]:
        language = "en"
    return f"sound:{directory / f'pbx-ivr-{name}-{language}'}"
