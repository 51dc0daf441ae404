"""Seeded generator of telecom customer-support messages, labelled with intent and sentiment.

The embedded default data for the intent and sentiment models. Messages are built from many paraphrased
bodies per intent and language (English and French), sentiment-bearing openers and closers that agree with
the label most of the time, realistic slot values, short and long forms, casual writing and seeded typos.
A small fraction carries personal data (emails, phone numbers, IBANs, card numbers) so that masking has
something to find, and a few messages mix topics or carry a neighbouring intent's label, as real ticket
data does, so that the labels are learnable but not trivially so.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from cxops.data._ids import customer_ids

__all__ = ["CHANNELS", "INTENTS", "LANGUAGES", "SENTIMENTS", "support_messages"]

INTENTS: tuple[str, ...] = (
    "billing_question",
    "payment_issue",
    "password_reset",
    "order_tracking",
    "network_outage",
    "slow_internet",
    "plan_change",
    "cancellation",
    "roaming",
    "sim_activation",
    "device_support",
    "moving_address",
)
SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
CHANNELS: tuple[str, ...] = ("chat", "email", "app", "social")
LANGUAGES: tuple[str, ...] = ("en", "fr")

_CHANNEL_P = (0.38, 0.27, 0.22, 0.13)
_LANGUAGE_P = (0.75, 0.25)
_PII_RATE = 0.05
_TOPIC_MIX_RATE = 0.08  # a second, related topic in the same message
_NEIGHBOUR_LABEL_RATE = 0.03  # body of a neighbouring intent, as mislabelled tickets are in practice

# Probability of (negative, neutral, positive) per intent: outages and cancellations skew negative,
# moves and upgrades skew positive.
_SENTIMENT_P: dict[str, tuple[float, float, float]] = {
    "billing_question": (0.35, 0.55, 0.10),
    "payment_issue": (0.50, 0.42, 0.08),
    "password_reset": (0.25, 0.60, 0.15),
    "order_tracking": (0.38, 0.47, 0.15),
    "network_outage": (0.65, 0.30, 0.05),
    "slow_internet": (0.60, 0.33, 0.07),
    "plan_change": (0.10, 0.58, 0.32),
    "cancellation": (0.62, 0.32, 0.06),
    "roaming": (0.22, 0.53, 0.25),
    "sim_activation": (0.30, 0.55, 0.15),
    "device_support": (0.35, 0.50, 0.15),
    "moving_address": (0.05, 0.60, 0.35),
}

# Intents whose messages share vocabulary; used for mixed-topic and mislabelled messages.
_NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "billing_question": ("payment_issue", "plan_change", "roaming"),
    "payment_issue": ("billing_question",),
    "password_reset": ("device_support",),
    "order_tracking": ("sim_activation", "device_support"),
    "network_outage": ("slow_internet",),
    "slow_internet": ("network_outage", "device_support"),
    "plan_change": ("cancellation", "billing_question"),
    "cancellation": ("plan_change", "billing_question"),
    "roaming": ("billing_question", "plan_change"),
    "sim_activation": ("order_tracking", "device_support"),
    "device_support": ("slow_internet", "password_reset"),
    "moving_address": ("plan_change", "cancellation"),
}

# Message bodies: the sentence that carries the intent. Slots in braces are filled per message.
_BODIES: dict[str, dict[str, tuple[str, ...]]] = {
    "billing_question": {
        "en": (
            "Why is my bill {amount} this month when it's usually {amount2}?",
            "Can you explain the extra charge of {amount} on my last invoice?",
            "I don't understand my latest bill, there's a line called 'service adjustment'.",
            "My invoice went up to {amount} and I didn't change anything on my {plan} plan.",
            "What is this {amount} fee on the bill dated {date}?",
            "How do I get a copy of my invoice from {date}?",
            "bill is higher than usual, what happened",
            "I was charged twice for the same month, the bill says {amount}.",
            "Could someone break down the charges on my account? Total is {amount}.",
            "Is the price of the {plan} plan going up? My bill shows {amount} now.",
        ),
        "fr": (
            "Pourquoi ma facture est de {amount} ce mois-ci alors que je paie d'habitude {amount2} ?",
            "Pouvez-vous m'expliquer les frais de {amount} sur ma dernière facture ?",
            "Je ne comprends pas ma facture du {date}, il y a une ligne 'régularisation'.",
            "Ma facture a augmenté à {amount} sans que je change mon forfait {plan}.",
            "Comment obtenir une copie de ma facture du {date} ?",
            "facture plus élevée que d'habitude, c'est normal ?",
            "J'ai été facturé deux fois pour le même mois, {amount} au total.",
        ),
    },
    "payment_issue": {
        "en": (
            "My payment of {amount} was declined but my card is fine.",
            "I paid {amount} on {date} but my account still shows as overdue.",
            "The direct debit failed this month, how can I pay now?",
            "Your website won't accept my card when I try to pay the {amount} balance.",
            "I've been charged {amount} twice on my bank statement, please refund one.",
            "How do I update my bank details for the monthly direct debit?",
            "payment not going through in the app",
            "I got a late payment fee even though I paid on {date}.",
            "Can I set up a payment plan for the {amount} I owe?",
        ),
        "fr": (
            "Mon paiement de {amount} a été refusé alors que ma carte fonctionne.",
            "J'ai payé {amount} le {date} mais mon compte indique toujours un impayé.",
            "Le prélèvement a échoué ce mois-ci, comment puis-je régler ?",
            "Comment changer mes coordonnées bancaires pour le prélèvement ?",
            "paiement refusé dans l'appli",
            "On m'a prélevé {amount} deux fois, merci de rembourser.",
        ),
    },
    "password_reset": {
        "en": (
            "I forgot my password and can't log into my account.",
            "The password reset link you sent me has expired.",
            "I never receive the reset email, I've tried {count} times.",
            "How do I change the password for the customer portal?",
            "My account is locked after too many login attempts.",
            "can't log in, need a new password",
            "The app keeps saying my password is wrong even after I reset it.",
            "I changed my email address and now I can't recover my login.",
        ),
        "fr": (
            "J'ai oublié mon mot de passe et je ne peux plus me connecter.",
            "Le lien de réinitialisation du mot de passe a expiré.",
            "Je ne reçois pas l'email pour réinitialiser mon mot de passe.",
            "Mon compte est bloqué après trop de tentatives de connexion.",
            "impossible de me connecter, mot de passe oublié",
            "Comment changer le mot de passe de mon espace client ?",
        ),
    },
    "order_tracking": {
        "en": (
            "Where is my order {order}? It was supposed to arrive on {date}.",
            "I ordered a {device} {count} days ago and still have no tracking number.",
            "Can you tell me when order {order} will be delivered?",
            "The tracking for {order} hasn't updated in a week.",
            "My new {device} hasn't shipped yet, order {order}.",
            "any update on my order?",
            "The courier says delivered but I never got the package ({order}).",
            "When will the router I ordered on {date} arrive?",
        ),
        "fr": (
            "Où en est ma commande {order} ? Elle devait arriver le {date}.",
            "J'ai commandé un {device} il y a {count} jours et toujours pas de suivi.",
            "Quand sera livrée ma commande {order} ?",
            "Le suivi de la commande {order} ne bouge plus depuis une semaine.",
            "du nouveau pour ma commande ?",
            "Le colis {order} est indiqué livré mais je ne l'ai pas reçu.",
        ),
    },
    "network_outage": {
        "en": (
            "No internet at all since this morning in {city}.",
            "Is there an outage in {city}? Everything is down.",
            "My phone has had no signal for {hours} hours.",
            "The whole street in {city} has lost service.",
            "Internet and TV both down since {date}.",
            "no network, no calls, nothing",
            "Mobile data and calls stopped working around {city} an hour ago.",
            "The router light is red and nothing connects, is there a network problem in {city}?",
            "We've had no connection for {count} days now.",
        ),
        "fr": (
            "Plus d'internet du tout depuis ce matin à {city}.",
            "Y a-t-il une panne à {city} ? Tout est coupé.",
            "Mon téléphone n'a plus de réseau depuis {hours} heures.",
            "Internet et télé coupés depuis le {date}.",
            "plus de réseau, plus rien",
            "Toute la rue est sans connexion à {city}.",
        ),
    },
    "slow_internet": {
        "en": (
            "My internet is really slow, I'm getting {speed} instead of the {paid_speed} I pay for.",
            "Speed tests show {speed} in the evenings, it's unusable.",
            "Wifi keeps dropping and pages take ages to load.",
            "Video calls freeze all the time, the connection is so slow.",
            "Why is my {plan} connection only giving {speed}?",
            "internet super slow again",
            "Downloads crawl at {speed}, something is wrong with the line.",
            "Streaming buffers constantly since {date}, the speed is terrible.",
        ),
        "fr": (
            "Mon internet est très lent, j'ai {speed} au lieu des {paid_speed} prévus.",
            "Le débit tombe à {speed} le soir, c'est inutilisable.",
            "Le wifi se coupe sans arrêt et les pages mettent une éternité à charger.",
            "Les appels vidéo se figent, la connexion est trop lente.",
            "connexion hyper lente encore",
            "Pourquoi ma fibre {plan} ne donne que {speed} ?",
        ),
    },
    "plan_change": {
        "en": (
            "I'd like to upgrade to the {plan} plan.",
            "Can I switch from my current plan to {plan}?",
            "What would it cost to move to {plan}? I need more data.",
            "Please downgrade me to a cheaper plan, {plan} is enough.",
            "I want to add a line for my daughter to my plan.",
            "how do i change my plan",
            "Is there a better deal than my {plan} contract? I use way more data now.",
            "Can I add unlimited international calls to my plan?",
        ),
        "fr": (
            "Je voudrais passer au forfait {plan}.",
            "Puis-je changer mon forfait actuel pour {plan} ?",
            "Combien coûterait le passage à {plan} ? J'ai besoin de plus de data.",
            "Merci de me passer sur un forfait moins cher, {plan} suffit.",
            "comment changer de forfait",
            "Je veux ajouter une ligne pour mon fils sur mon forfait.",
        ),
    },
    "cancellation": {
        "en": (
            "I want to cancel my contract.",
            "Please close my account at the end of the month.",
            "How do I terminate my {plan} subscription?",
            "I'm switching to another provider, what do I need to cancel?",
            "What are the early termination fees if I leave before {date}?",
            "cancel my line please",
            "I'd like to end my service, I'm moving to a competitor.",
            "Send me the cancellation form, I don't want to renew.",
        ),
        "fr": (
            "Je souhaite résilier mon contrat.",
            "Merci de fermer mon compte à la fin du mois.",
            "Comment résilier mon abonnement {plan} ?",
            "Je pars chez un autre opérateur, que dois-je faire pour résilier ?",
            "résiliation de ma ligne svp",
            "Quels sont les frais si je résilie avant le {date} ?",
        ),
    },
    "roaming": {
        "en": (
            "I'm travelling to {country} next week, will my phone work there?",
            "Does my {plan} plan include roaming in {country}?",
            "I got charged {amount} for data while I was in {country}.",
            "How do I turn on roaming before my trip to {country}?",
            "my phone has no service abroad",
            "Is there a travel pass for {country}? I'm there for {count} days.",
            "Calls don't go through since I landed in {country}.",
        ),
        "fr": (
            "Je pars en {country} la semaine prochaine, mon téléphone va-t-il marcher ?",
            "Mon forfait {plan} inclut-il l'itinérance en {country} ?",
            "On m'a facturé {amount} de data pendant mon séjour en {country}.",
            "Comment activer l'itinérance avant mon voyage en {country} ?",
            "pas de réseau à l'étranger",
        ),
    },
    "sim_activation": {
        "en": (
            "I received my new SIM but it says 'no service'.",
            "How do I activate the eSIM on my {device}?",
            "My SIM card isn't activated yet, it's been {count} days.",
            "I need a replacement SIM, mine stopped working.",
            "The QR code for the eSIM doesn't work on my {device}.",
            "sim not working after port in",
            "Transferring my number from my old carrier didn't complete, new SIM shows no signal.",
            "Can you activate the SIM I got with order {order}?",
        ),
        "fr": (
            "J'ai reçu ma nouvelle carte SIM mais elle affiche 'aucun service'.",
            "Comment activer l'eSIM sur mon {device} ?",
            "Ma carte SIM n'est toujours pas activée après {count} jours.",
            "Le QR code de l'eSIM ne marche pas sur mon {device}.",
            "sim pas activée",
            "La portabilité de mon numéro n'a pas abouti, la SIM n'a pas de réseau.",
        ),
    },
    "device_support": {
        "en": (
            "My {device} won't connect to wifi after the update.",
            "How do I set up voicemail on my {device}?",
            "The {router} keeps rebooting every few minutes.",
            "My {device} battery drains really fast since I got it.",
            "The TV box shows an error code when I turn it on.",
            "phone screen frozen, help",
            "How do I reset the {router} to factory settings?",
            "Bluetooth stopped working on my {device} that I bought from you.",
        ),
        "fr": (
            "Mon {device} ne se connecte plus au wifi depuis la mise à jour.",
            "Comment configurer la messagerie vocale sur mon {device} ?",
            "La {router} redémarre toute seule toutes les quelques minutes.",
            "Le décodeur TV affiche un code d'erreur au démarrage.",
            "téléphone bloqué, aidez-moi",
            "Comment réinitialiser la {router} ?",
        ),
    },
    "moving_address": {
        "en": (
            "I'm moving to {city} on {date}, can I take my internet with me?",
            "Please update my address, I've moved to {city}.",
            "How do I transfer my broadband to a new home?",
            "We're relocating to {city} next month, is fibre available there?",
            "new address, need to move my service",
            "Can you schedule the installation at my new place in {city} for {date}?",
            "I'm moving house, what happens to my contract?",
        ),
        "fr": (
            "Je déménage à {city} le {date}, puis-je garder ma box ?",
            "Merci de mettre à jour mon adresse, j'habite maintenant à {city}.",
            "Comment transférer mon abonnement internet dans mon nouveau logement ?",
            "Nous déménageons à {city} le mois prochain, la fibre y est-elle disponible ?",
            "déménagement, transfert de ligne",
        ),
    },
}

# Extra sentences that make a message longer without changing its intent.
_DETAILS: dict[str, dict[str, tuple[str, ...]]] = {
    "billing_question": {
        "en": ("My account number ends in {digits}.", "I've been a customer for {count} years."),
        "fr": ("Mon numéro client finit par {digits}.", "Je suis client depuis {count} ans."),
    },
    "payment_issue": {
        "en": (
            "I don't want my line suspended over this.",
            "The bank says nothing was blocked on their side.",
        ),
        "fr": (
            "Je ne veux pas que ma ligne soit suspendue.",
            "La banque dit que rien n'est bloqué chez eux.",
        ),
    },
    "password_reset": {
        "en": ("I need to check my usage today.", "I already cleared the browser cache."),
        "fr": ("Je dois consulter ma consommation aujourd'hui.", "J'ai déjà vidé le cache du navigateur."),
    },
    "order_tracking": {
        "en": ("I need it before {date}.", "Nobody has called me about the delivery."),
        "fr": ("J'en ai besoin avant le {date}.", "Personne ne m'a appelé pour la livraison."),
    },
    "network_outage": {
        "en": ("I already restarted the router twice.", "I work from home and can't do anything."),
        "fr": ("J'ai déjà redémarré la box deux fois.", "Je télétravaille et je ne peux rien faire."),
    },
    "slow_internet": {
        "en": ("I'm connected by cable, not wifi.", "It's been like this for {count} days."),
        "fr": ("Je suis branché en câble, pas en wifi.", "Ça dure depuis {count} jours."),
    },
    "plan_change": {
        "en": ("I'd like it to start from my next billing cycle.", "Does it change my contract end date?"),
        "fr": ("J'aimerais que ça démarre au prochain cycle.", "Est-ce que ça change ma date d'engagement ?"),
    },
    "cancellation": {
        "en": ("How do I return the router?", "I want confirmation in writing."),
        "fr": ("Comment renvoyer la box ?", "Je veux une confirmation écrite."),
    },
    "roaming": {
        "en": ("I don't want a surprise on my bill when I'm back.", "I leave on {date}."),
        "fr": ("Je ne veux pas de mauvaise surprise sur la facture.", "Je pars le {date}."),
    },
    "sim_activation": {
        "en": ("I need my number working for work calls.", "I already restarted the phone."),
        "fr": ("J'ai besoin de mon numéro pour le travail.", "J'ai déjà redémarré le téléphone."),
    },
    "device_support": {
        "en": ("I already tried turning it off and on again.", "It's still under warranty."),
        "fr": ("J'ai déjà essayé de l'éteindre et le rallumer.", "Il est toujours sous garantie."),
    },
    "moving_address": {
        "en": ("The new flat is in the city centre.", "I'd like to keep the same phone number."),
        "fr": ("Le nouvel appartement est en centre-ville.", "Je voudrais garder le même numéro."),
    },
}

# Context any message may carry, whatever its intent.
_GENERIC_DETAILS: dict[str, tuple[str, ...]] = {
    "en": (
        "I've been a customer for {count} years.",
        "I already tried the chat bot, it didn't help.",
        "I'm available after 6pm if someone needs to call.",
        "This is for the line in my partner's name.",
    ),
    "fr": (
        "Je suis client depuis {count} ans.",
        "J'ai déjà essayé le chatbot, sans succès.",
        "Je suis joignable après 18h.",
    ),
}

# Sentiment markers. Neutral ones are bland on purpose; "thanks" appears in neutral too, so the closer
# alone does not give the label away.
_OPENERS: dict[str, dict[str, tuple[str, ...]]] = {
    "negative": {
        "en": (
            "This is ridiculous.",
            "Seriously annoyed right now.",
            "I'm really fed up.",
            "Third time I'm writing about this.",
            "Very disappointed with your service.",
            "Not happy at all.",
            "Ugh.",
            "Honestly this is unacceptable.",
            "I've had enough of this.",
        ),
        "fr": (
            "C'est n'importe quoi.",
            "Je suis vraiment énervé.",
            "J'en ai marre.",
            "Troisième fois que j'écris pour ça.",
            "Très déçu de votre service.",
            "C'est inadmissible.",
        ),
    },
    "neutral": {
        "en": ("Hi,", "Hello,", "Good morning,", "Hey,", "Hi there,", "Quick question:"),
        "fr": ("Bonjour,", "Bonsoir,", "Salut,", "Petite question :"),
    },
    "positive": {
        "en": (
            "Hi there, hope you're well!",
            "Hello :)",
            "Thanks for the quick help last time!",
            "Love the new app by the way.",
            "You've been great so far.",
            "Hi! Really happy with the service.",
        ),
        "fr": (
            "Bonjour, j'espère que vous allez bien !",
            "Bonjour :)",
            "Merci pour votre aide rapide la dernière fois !",
            "Super contente du service jusqu'ici.",
            "Bravo pour la nouvelle appli.",
        ),
    },
}
_CLOSERS: dict[str, dict[str, tuple[str, ...]]] = {
    "negative": {
        "en": (
            "Sort it out or I'm leaving.",
            "Worst customer service ever.",
            "I expect a refund.",
            "Fix this asap!!",
            "I've wasted hours on this.",
            "Terrible.",
            "Nobody ever answers, this is a joke.",
        ),
        "fr": (
            "Réglez ça ou je pars.",
            "Service client nul.",
            "J'exige un remboursement.",
            "Franchement lamentable.",
            "J'ai perdu des heures avec ça !!",
        ),
    },
    "neutral": {
        "en": ("Regards.", "Let me know.", "Thanks.", "Thx.", "Waiting for your reply.", "Best,"),
        "fr": ("Cordialement.", "Merci.", "Dans l'attente de votre réponse.", "Bonne journée."),
    },
    "positive": {
        "en": (
            "Thanks a lot!",
            "Thank you so much, you guys are great.",
            "Much appreciated!",
            "Cheers, great service as always.",
            "Thanks in advance, really appreciate it :)",
            "Love your support team!",
        ),
        "fr": (
            "Merci beaucoup !",
            "Merci mille fois, vous êtes top.",
            "Super service, merci !",
            "Merci d'avance, c'est vraiment apprécié :)",
        ),
    },
}

_PII_SENTENCES: dict[str, tuple[str, ...]] = {
    "en": (
        "You can reach me at {email}.",
        "My number is {phone}, call me back please.",
        "The payment came from IBAN {iban}.",
        "I paid with card {card}.",
        "My email on the account is {email}.",
    ),
    "fr": (
        "Vous pouvez me joindre à {email}.",
        "Mon numéro est le {phone}, rappelez-moi.",
        "Le prélèvement vient de l'IBAN {iban}.",
        "J'ai payé avec la carte {card}.",
    ),
}

_CASUAL: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (
        ("you're", "ur"),
        ("you", "u"),
        ("please", "pls"),
        ("thanks", "thx"),
        ("because", "cuz"),
        ("are", "r"),
    ),
    "fr": (("s'il vous plaît", "svp"), ("bonjour", "bjr"), ("merci", "mci"), ("toujours", "tjrs")),
}

_SLOT_VALUES: dict[str, dict[str, tuple[str, ...]]] = {
    "plan": {
        "en": (
            "Unlimited Max",
            "Essential 20GB",
            "Fibre 1Gb",
            "Fibre 300",
            "Family Share",
            "5G Plus",
            "Prepaid 15",
        ),
        "fr": ("Essentiel 50 Go", "Illimité 5G", "Fibre 1 Gb/s", "Box Fibre Max", "Famille", "Série 100 Go"),
    },
    "city": {
        "en": (
            "Chicago",
            "Austin",
            "Seattle",
            "Denver",
            "Boston",
            "Leeds",
            "Manchester",
            "Dublin",
            "Toronto",
        ),
        "fr": ("Lyon", "Marseille", "Lille", "Nantes", "Bordeaux", "Toulouse", "Rennes", "Montréal", "Liège"),
    },
    "country": {
        "en": ("Spain", "Italy", "Mexico", "Japan", "Canada", "Morocco", "Portugal", "Thailand"),
        "fr": ("Espagne", "Italie", "Tunisie", "Grèce", "Croatie", "Suisse", "Thaïlande", "Irlande"),
    },
    "device": {
        "en": (
            "iPhone 15",
            "iPhone 13 mini",
            "Galaxy S23",
            "Galaxy A54",
            "Pixel 8",
            "Redmi Note 12",
            "Moto G84",
        ),
        "fr": (
            "iPhone 15",
            "iPhone 12",
            "Galaxy S24",
            "Galaxy A35",
            "Pixel 7a",
            "Redmi Note 13",
            "Xperia 10",
        ),
    },
    "router": {
        "en": ("router", "HomeHub 3", "Fibre Box 6", "wifi extender", "modem"),
        "fr": ("box", "box fibre", "Box 6", "box 4G"),
    },
}
_MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"),
}  # fmt: skip
_FIRST = ("marie", "john", "sarah", "ahmed", "lucie", "mike", "nina", "paul", "emma", "karim", "julie")
_LAST = ("dupont", "smith", "martin", "nguyen", "garcia", "bernard", "khan", "lee", "moreau", "brown")
_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.fr", "orange.fr", "icloud.com")
_SLOT = re.compile(r"\{(\w+)\}")


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _luhn_complete(digits: str) -> str:
    """Append the Luhn check digit, so card-like numbers look real to a PII detector."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return digits + str((10 - total % 10) % 10)


def _iban(rng: np.random.Generator, country: str) -> str:
    """A French or German IBAN with a valid mod-97 check."""
    bban_len = 23 if country == "FR" else 18
    bban = "".join(str(d) for d in rng.integers(0, 10, bban_len))
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    iban = f"{country}{check:02d}{bban}"
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def _slot(name: str, lang: str, rng: np.random.Generator) -> str:
    if name in _SLOT_VALUES:
        return _pick(rng, _SLOT_VALUES[name][lang])
    if name in ("amount", "amount2"):
        value = float(rng.choice([19.99, 29.99, 45.0, 59.9])) + float(rng.integers(0, 9000)) / 100
        return f"${value:.2f}" if lang == "en" else f"{value:.2f} €".replace(".", ",")
    if name == "date":
        month, day = _pick(rng, _MONTHS[lang]), int(rng.integers(1, 29))
        return f"{month} {day}" if lang == "en" else f"{day} {month}"
    if name == "order":
        return (
            f"ORD-{int(rng.integers(100_000, 1_000_000))}"
            if rng.random() < 0.7
            else (f"#{int(rng.integers(10_000_000, 100_000_000))}")
        )
    if name == "count":
        return str(int(rng.integers(2, 15)))
    if name == "hours":
        return str(int(rng.integers(2, 49)))
    if name == "digits":
        return f"{int(rng.integers(0, 10_000)):04d}"
    if name == "speed":
        value = round(float(rng.uniform(0.5, 20.0)), 1)
        return f"{value:g} Mbps" if lang == "en" else f"{value:g} Mb/s".replace(".", ",")
    if name == "paid_speed":
        value = _pick(rng, ("100", "300", "500", "1000"))
        return f"{value} Mbps" if lang == "en" else f"{value} Mb/s"
    if name == "email":
        sep = _pick(rng, (".", "_", ""))
        return (
            f"{_pick(rng, _FIRST)}{sep}{_pick(rng, _LAST)}{int(rng.integers(1, 99))}@{_pick(rng, _DOMAINS)}"
        )
    if name == "phone":
        d = "".join(str(x) for x in rng.integers(0, 10, 8))
        if lang == "fr":
            return f"+33 6 {d[0:2]} {d[2:4]} {d[4:6]} {d[6:8]}" if rng.random() < 0.5 else f"06{d}"
        return f"({d[0:3]}) 555-{d[3:7]}" if rng.random() < 0.5 else f"+1 {d[0:3]} 555 {d[3:7]}"
    if name == "iban":
        return _iban(rng, "FR" if lang == "fr" else _pick(rng, ("DE", "FR")))
    if name == "card":
        card = _luhn_complete(_pick(rng, ("4", "5")) + "".join(str(x) for x in rng.integers(0, 10, 14)))
        return " ".join(card[i : i + 4] for i in range(0, 16, 4))
    raise KeyError(f"unknown message slot '{name}'")


def _fill(template: str, lang: str, rng: np.random.Generator) -> str:
    return _SLOT.sub(lambda m: _slot(m.group(1), lang, rng), template)


def _typo(word: str, rng: np.random.Generator) -> str:
    """Swap, drop or double one inner character, the common slips of fast typing."""
    i = int(rng.integers(1, len(word) - 1))
    kind = int(rng.integers(3))
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def _add_typos(text: str, rate: float, rng: np.random.Generator) -> str:
    words = text.split(" ")
    draws = rng.random(len(words))
    for k, word in enumerate(words):
        # Leave identifiers (order numbers, amounts, emails) alone: typos there would change their meaning.
        if draws[k] < rate and len(word) >= 4 and word.isalpha():
            words[k] = _typo(word, rng)
    return " ".join(words)


def _casual(text: str, lang: str, rng: np.random.Generator) -> str:
    text = text.lower()
    for formal, short in _CASUAL[lang]:
        if rng.random() < 0.6:
            text = re.sub(rf"\b{re.escape(formal)}\b", short, text)
    return text.rstrip(".") if rng.random() < 0.7 else text


def _compose(
    intent: str, body_intent: str, sentiment: str, lang: str, channel: str, rng: np.random.Generator
) -> str:
    short = rng.random() < (0.35 if channel in ("chat", "social") else 0.15)
    # Most messages carry an opener or a closer that agrees with the sentiment; some carry none.
    has_marker = rng.random() < (0.88 if sentiment != "neutral" else 0.6)
    use_opener = has_marker and rng.random() < 0.6
    use_closer = has_marker and (not use_opener or (not short and rng.random() < 0.45))
    opener = _pick(rng, _OPENERS[sentiment][lang]) if use_opener else ""
    bodies = _BODIES[body_intent][lang]
    if short:  # quick messages favour the terse phrasings
        bodies = tuple(b for b in bodies if len(b.split()) <= 9) or bodies
    sentences = [_fill(_pick(rng, bodies), lang, rng)]
    if not short:
        details = [*_DETAILS[intent][lang], *_GENERIC_DETAILS[lang]]
        for k in rng.permutation(len(details))[: int(rng.choice([0, 1, 1, 2]))]:
            sentences.append(_fill(details[k], lang, rng))
        if rng.random() < _TOPIC_MIX_RATE:
            extra = _fill(_pick(rng, _BODIES[_pick(rng, _NEIGHBOURS[intent])][lang]), lang, rng)
            sentences.append(("Also, " if lang == "en" else "Et aussi, ") + extra[0].lower() + extra[1:])
    if rng.random() < _PII_RATE:
        sentences.append(_fill(_pick(rng, _PII_SENTENCES[lang]), lang, rng))
    closer = _pick(rng, _CLOSERS[sentiment][lang]) if use_closer else ""
    if channel == "email" and not short:
        signature = _pick(rng, _FIRST).capitalize()
        blocks = [opener, " ".join(sentences), "\n".join(p for p in (closer, signature) if p)]
        return "\n\n".join(b for b in blocks if b)
    if opener.endswith((",", ":")) and not re.match(r"I\b", sentences[0]):
        sentences[0] = sentences[0][0].lower() + sentences[0][1:]  # "Hi, where is..." reads naturally
    text = " ".join(p for p in (opener, *sentences, closer) if p)
    if channel != "email" and rng.random() < 0.35:
        text = _casual(text, lang, rng)
    return text


def support_messages(
    n: int = 4000, seed: int = 7, as_of: datetime | None = None, *, typo_rate: float = 0.015
) -> pd.DataFrame:
    """`n` labelled support messages sent during the 90 days before `as_of` (default: today, midnight UTC).

    `typo_rate` is the chance that a word is mistyped; typos draw from their own seeded stream, so the
    same seed with `typo_rate=0` gives the same messages without typos.
    """
    rng, typo_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    as_of = as_of or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    # Customers repeat: a pool a third the size of the messages, with a few frequent contacters.
    pool = customer_ids(rng, max(1, n // 3))
    weights = 1.0 / np.arange(1, len(pool) + 1) ** 0.6
    customers = rng.choice(len(pool), size=n, p=weights / weights.sum())

    langs = rng.choice(len(LANGUAGES), size=n, p=_LANGUAGE_P)
    channels = rng.choice(len(CHANNELS), size=n, p=_CHANNEL_P)
    intents = rng.integers(0, len(INTENTS), size=n)
    seconds = np.sort(rng.integers(60, 90 * 86400, size=n))[::-1]  # oldest first

    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    for i in range(n):
        intent, lang, channel = INTENTS[intents[i]], LANGUAGES[langs[i]], CHANNELS[channels[i]]
        sentiment = SENTIMENTS[int(rng.choice(3, p=_SENTIMENT_P[intent]))]
        body_intent = _pick(rng, _NEIGHBOURS[intent]) if rng.random() < _NEIGHBOUR_LABEL_RATE else intent
        # Redraw a few times if the exact text was already produced, keeping duplicates rare.
        for _ in range(4):
            text = _compose(intent, body_intent, sentiment, lang, channel, rng)
            if text not in seen:
                break
        seen.add(text)
        rows.append(
            {
                "message_id": f"MSG-{i + 1:06d}",
                "customerID": pool[customers[i]],
                "channel": channel,
                "language": lang,
                "text": _add_typos(text, typo_rate, typo_rng) if typo_rate > 0 else text,
                "intent": intent,
                "sentiment": sentiment,
                "event_timestamp": as_of - timedelta(seconds=int(seconds[i])),
            }
        )
    frame = pd.DataFrame(rows)
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    return frame
