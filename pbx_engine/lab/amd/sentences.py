"""What the AMD corpus's people, answering machines and call-screening assistants say.

Per language, pools of sentences. A template takes its first sentence from a pool; the last
sentence of every pool (and the last follow-up, middle and closing sentence) is heard only in
the held-out test split, so a detector never meets a test sentence in tuning.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pools:
    # A person's first words on answering, and what he says when nobody answers him.
    openers: tuple[str, ...]
    follow_ups: tuple[str, ...]
    # A personal voicemail greeting: who you reached, that they cannot answer, what to do.
    greetings: tuple[str, ...]
    middles: tuple[str, ...]
    closers: tuple[str, ...]
    short_greetings: tuple[str, ...]  # "Leave a message." and a beep
    carrier: tuple[str, ...]  # the network's own voicemail announcement
    screening: tuple[str, ...]  # a phone's assistant asking who calls and why


LANGUAGES: dict[str, Pools] = {
    "en": Pools(
        openers=(
            "Hello?",
            "Yes?",
            "Hello, John speaking.",
            "Hi, this is Anna, who is calling?",
            "Hello, one moment please.",
            "Hi.",
            "Hello, who is this?",
            "Good morning, Smith residence.",
            "Yes, this is Mark.",
            "Yeah, hello?",
        ),
        follow_ups=("Hello?", "Yes, hello?", "Who is this?", "Hello, can you hear me?"),
        greetings=(
            "Hi, you have reached John.",
            "Hello, this is Anna Smith.",
            "Thanks for calling the Millers.",
            "Hello, you've called Sarah's phone.",
            "Good day, this is the office of Doctor Brown.",
            "Hey, it's Mike.",
        ),
        middles=(
            "I can't take your call right now.",
            "We are not available at the moment.",
            "I'm away from my phone.",
        ),
        closers=(
            "Please leave a message after the tone.",
            "Leave your name and number and I will call you back.",
            "Speak after the beep.",
        ),
        short_greetings=("Leave a message.", "Not here, leave a message.", "Please speak now."),
        carrier=(
            "The person you are calling is not available. Please leave a message after the tone.",
            "Your call has been forwarded to an automated voice messaging system.",
            "The mobile subscriber cannot take your call. Record your message after the tone.",
        ),
        screening=(
            "Hi, if you record your name and reason for calling, I'll see if this person is "
            "available.",
            "Hello, the person you're calling is using a screening service and will get a copy "
            "of this conversation. Go ahead and say your name and why you're calling.",
            "Please say your name and the reason for your call, and I will see if they can answer.",
        ),
    ),
    "pl": Pools(
        openers=(
            "Halo?",
            "Tak?",
            "Halo, słucham.",
            "Dzień dobry, tu Anna, kto mówi?",
            "Halo, chwileczkę.",
            "Cześć.",
            "Halo, kto tam?",
            "Dzień dobry, Kowalski, słucham.",
            "Tak, tu Marek.",
            "No, słucham?",
        ),
        follow_ups=("Halo?", "Tak, słucham?", "Kto mówi?", "Halo, słyszy mnie pan?"),
        greetings=(
            "Dzień dobry, dodzwoniłeś się do Anny.",
            "Cześć, tu Piotr.",
            "Tu poczta głosowa Kowalskich.",
            "Dzień dobry, tu telefon Ewy.",
            "Witamy w biurze firmy Nowak.",
            "Halo, mówi Marek.",
        ),
        middles=(
            "Nie mogę teraz odebrać.",
            "Jestem chwilowo niedostępny.",
            "Nie ma mnie przy telefonie.",
        ),
        closers=(
            "Zostaw wiadomość po sygnale.",
            "Zostaw imię i numer, oddzwonię.",
            "Mów po sygnale.",
        ),
        short_greetings=("Zostaw wiadomość.", "Nie ma mnie, nagraj się.", "Proszę mówić."),
        carrier=(
            "Abonent jest chwilowo niedostępny. Prosimy zostawić wiadomość po sygnale.",
            "Połączenie zostało przekierowane do poczty głosowej.",
            "Numer, do którego dzwonisz, nie odpowiada. Nagraj wiadomość po sygnale.",
        ),
        screening=(
            "Dzień dobry, proszę podać swoje imię i cel połączenia, sprawdzę, czy ta osoba "
            "jest dostępna.",
            "Osoba, do której dzwonisz, korzysta z usługi filtrowania połączeń. Powiedz, kim "
            "jesteś i w jakiej sprawie dzwonisz.",
            "Proszę powiedzieć, kto dzwoni i dlaczego, a zapytam, czy może rozmawiać.",
        ),
    ),
    "bg": Pools(
        openers=(
            "Ало?",
            "Да?",
            "Ало, слушам ви.",
            "Добър ден, Мария е, кой се обажда?",
            "Ало, един момент.",
            "Здрасти.",
            "Ало, кой се обажда?",
            "Добър ден, Иванов слуша.",
            "Да, Марк е.",
            "Моля, кой е?",
        ),
        follow_ups=("Ало?", "Да, ало?", "Кой е?", "Ало, чувате ли ме?"),
        greetings=(
            "Здравейте, свързахте се с Мария.",
            "Здрасти, Петър е.",
            "Това е гласовата поща на семейство Иванови.",
            "Здравейте, това е телефонът на Елена.",
            "Добър ден, офисът на доктор Петров.",
            "Ало, Георги е.",
        ),
        middles=(
            "В момента не мога да отговоря.",
            "Не сме на разположение.",
            "Не съм до телефона.",
        ),
        closers=(
            "Оставете съобщение след сигнала.",
            "Оставете име и номер и ще ви върна обаждането.",
            "Говорете след сигнала.",
        ),
        short_greetings=("Оставете съобщение.", "Няма ме, оставете съобщение.", "Моля, говорете."),
        carrier=(
            "Абонатът не може да отговори. Моля, оставете съобщение след сигнала.",
            "Обаждането ви е пренасочено към гласова поща.",
            "Номерът, който набирате, не отговаря. Запишете съобщение след сигнала.",
        ),
        screening=(
            "Здравейте, кажете името си и причината за обаждането и ще проверя дали човекът "
            "е свободен.",
            "Лицето, което търсите, използва услуга за проверка на обажданията. Кажете кой сте "
            "и защо се обаждате.",
            "Моля, кажете кой се обажда и защо, а аз ще попитам дали може да говори.",
        ),
    ),
    "es": Pools(
        openers=(
            "¿Diga?",
            "¿Sí?",
            "Hola, habla Juan.",
            "Buenas tardes, soy Ana, ¿quién llama?",
            "Hola, un momento por favor.",
            "Hola.",
            "¿Hola, quién es?",
            "Buenos días, casa de los López.",
            "Sí, soy Marcos.",
            "¿Sí, dígame?",
        ),
        follow_ups=("¿Diga?", "¿Sí, hola?", "¿Quién es?", "¿Hola, me oye?"),
        greetings=(
            "Hola, has llamado a Juan.",
            "Hola, soy Ana García.",
            "Gracias por llamar a casa de los López.",
            "Hola, has llamado al teléfono de Lucía.",
            "Buenos días, oficina del doctor Ruiz.",
            "Qué tal, soy Pablo.",
        ),
        middles=(
            "Ahora no puedo atenderte.",
            "En este momento no estamos disponibles.",
            "No estoy cerca del teléfono.",
        ),
        closers=(
            "Deja tu mensaje después de la señal.",
            "Deja tu nombre y tu número y te llamaré.",
            "Habla después del pitido.",
        ),
        short_greetings=("Deja un mensaje.", "No estoy, deja tu mensaje.", "Hable ahora."),
        carrier=(
            "El número al que llama no está disponible. Deje su mensaje después de la señal.",
            "Su llamada ha sido desviada al buzón de voz.",
            "El abonado no puede atender su llamada. Grabe su mensaje después de la señal.",
        ),
        screening=(
            "Hola, si me dice su nombre y el motivo de su llamada, veré si esta persona está "
            "disponible.",
            "La persona a la que llama usa un servicio de filtrado de llamadas. Diga su nombre "
            "y por qué llama.",
            "Por favor, diga quién llama y por qué, y preguntaré si puede atenderle.",
        ),
    ),
    "de": Pools(
        openers=(
            "Hallo?",
            "Ja?",
            "Hallo, Müller hier.",
            "Guten Tag, hier ist Anna, wer spricht?",
            "Hallo, einen Moment bitte.",
            "Hi.",
            "Hallo, wer ist da?",
            "Guten Morgen, Familie Schmidt.",
            "Ja, hier ist Markus.",
            "Ja, bitte?",
        ),
        follow_ups=("Hallo?", "Ja, hallo?", "Wer ist da?", "Hallo, hören Sie mich?"),
        greetings=(
            "Hallo, hier ist der Anschluss von Anna Müller.",
            "Hi, hier ist Thomas.",
            "Guten Tag, Sie sind bei Familie Schmidt.",
            "Hallo, Sie haben Sabine angerufen.",
            "Guten Tag, Praxis Doktor Braun.",
            "Hallo, Jan hier.",
        ),
        middles=(
            "Ich bin gerade nicht erreichbar.",
            "Wir sind im Moment nicht da.",
            "Ich kann gerade nicht ans Telefon.",
        ),
        closers=(
            "Bitte hinterlassen Sie eine Nachricht nach dem Signalton.",
            "Nennen Sie Namen und Nummer, ich rufe zurück.",
            "Sprechen Sie nach dem Ton.",
        ),
        short_greetings=(
            "Nachricht bitte.",
            "Nicht da, bitte Nachricht.",
            "Bitte sprechen Sie jetzt.",
        ),
        carrier=(
            "Der gewünschte Gesprächspartner ist nicht erreichbar. Bitte sprechen Sie nach dem "
            "Ton.",
            "Ihr Anruf wird an die Sprachbox weitergeleitet.",
            "Der Teilnehmer kann Ihren Anruf nicht annehmen. Hinterlassen Sie eine Nachricht "
            "nach dem Ton.",
        ),
        screening=(
            "Hallo, wenn Sie Ihren Namen und den Grund Ihres Anrufs nennen, sehe ich nach, ob "
            "die Person erreichbar ist.",
            "Die angerufene Person nutzt einen Anruffilter. Bitte sagen Sie, wer Sie sind und "
            "warum Sie anrufen.",
            "Bitte sagen Sie, wer anruft und weshalb, dann frage ich, ob sie sprechen kann.",
        ),
    ),
    "ru": Pools(
        openers=(
            "Алло?",
            "Да?",
            "Алло, слушаю.",
            "Добрый день, это Анна, кто говорит?",
            "Алло, одну минуту.",
            "Привет.",
            "Алло, кто это?",
            "Добрый день, Ивановы слушают.",
            "Да, это Марк.",
            "Слушаю вас?",
        ),
        follow_ups=("Алло?", "Да, алло?", "Кто это?", "Алло, вы меня слышите?"),
        greetings=(
            "Здравствуйте, вы позвонили Анне.",
            "Привет, это Иван.",
            "Вы позвонили семье Петровых.",
            "Здравствуйте, это телефон Елены.",
            "Добрый день, офис доктора Смирнова.",
            "Алло, это Сергей.",
        ),
        middles=(
            "Сейчас я не могу ответить.",
            "Нас сейчас нет дома.",
            "Я не у телефона.",
        ),
        closers=(
            "Оставьте сообщение после сигнала.",
            "Оставьте имя и номер, я перезвоню.",
            "Говорите после сигнала.",
        ),
        short_greetings=("Оставьте сообщение.", "Меня нет, оставьте сообщение.", "Говорите."),
        carrier=(
            "Абонент временно недоступен. Пожалуйста, оставьте сообщение после сигнала.",
            "Ваш звонок переадресован на голосовую почту.",
            "Абонент не может ответить. Запишите сообщение после сигнала.",
        ),
        screening=(
            "Здравствуйте, назовите своё имя и причину звонка, и я узнаю, может ли этот "
            "человек ответить.",
            "Абонент использует службу проверки звонков. Скажите, кто вы и зачем звоните.",
            "Пожалуйста, скажите, кто звонит и зачем, и я спрошу, может ли он говорить.",
        ),
    ),
}
