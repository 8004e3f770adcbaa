"""Built-in assess task ``intents``: label a banking customer's message with one of eight intents.

Messages are built from our own templates and slot values (amounts, payees, places), so the
generator yields hundreds of distinct messages with a known gold label.
"""

from __future__ import annotations

import random

NAME = "intents"
LABELS = ["check_balance", "transfer_money", "lost_card", "change_address", "open_account",
          "close_account", "loan_inquiry", "dispute_charge"]
INSTRUCTION = "Classify the customer's intent."
DESCRIPTION = (
    "Classify the banking customer's message into exactly one intent and reply with the label "
    "only. Labels: check_balance (asks how much money is in an account), transfer_money (wants "
    "to send or move money), lost_card (card lost, stolen or missing), change_address (moved or "
    "new postal address), open_account (wants a new account), close_account (wants to close or "
    "cancel an account), loan_inquiry (asks about borrowing, loans, mortgages, rates), "
    "dispute_charge (a charge on the statement is wrong, unknown or doubled)."
)
METRIC = {"name": "choice", "choices": LABELS}

_TEMPLATES = {
    "check_balance": ["How much do I have in my {account}?", "what's my {account} balance right now",
                      "Can you tell me the balance of my {account} please?",
                      "I need to know how much money is left in my {account} before {day}.",
                      "show me my current {account} funds",
                      "Is there enough in my {account} to pay {person} {amount}?",
                      "I'm in {city}, can I see what's in my {account}?"],
    "transfer_money": ["Send {amount} to {person} from my {account}.", "I want to wire {amount} to {person} on {day}",
                       "please move {amount} from my {account} into savings",
                       "How do I pay {person} {amount} today?", "transfer {amount} to {person}'s account"],
    "lost_card": ["I can't find my {card} anywhere, I think I lost it in {city}.",
                  "my {card} was stolen in {city} yesterday", "Someone took my wallet with my {card}, block it!",
                  "I left my {card} at a shop in {city} on {day}", "lost my {card}, what do I do"],
    "change_address": ["I moved to {city}, please update my address.", "new address: 12 {street} Street, {city}",
                       "I'm relocating to {city} on {day}, where do I change my postal address?",
                       "Please send letters to my new flat in {city} from now on.",
                       "update my home address to {street} Road, {city}"],
    "open_account": ["I'd like to open a {account}.", "Can my {relative} and I open a joint {account}?",
                     "how do I start a new {account} online", "Sign me up for a {account} please",
                     "I want a second {account} for my {relative}",
                     "I just moved to {city} and want to open a {account} here"],
    "close_account": ["Please close my {account}.", "I want to cancel my {account} by {day}",
                      "how do I shut down the {account} I opened for my {relative}",
                      "Terminate my {account}, I'm moving to {city}.", "close the {account}, I don't use it"],
    "loan_inquiry": ["What interest rate would I get on a {amount} loan?",
                     "Can I borrow {amount} to buy a car in {city}?",
                     "I'm thinking about a mortgage for a flat in {city}, what are your rates?",
                     "Am I eligible for a personal loan of {amount}?",
                     "how long would it take to repay {amount} borrowed over five years"],
    "dispute_charge": ["There's a charge of {amount} from {shop} I never made.",
                       "I was billed twice by {shop} on {day}", "I don't recognise the {amount} payment to {shop}",
                       "{shop} charged my {card} {amount} but I returned the item",
                       "please reverse the {amount} transaction from {shop}, it's wrong"],
}
_SLOTS = {
    "account": ["checking account", "savings account", "current account", "business account", "student account"],
    "amount": ["$20", "$45.50", "$120", "$300", "$1,000", "€75", "£250", "$2,400", "€5,000", "$15,000"],
    "person": ["my landlord", "Maria", "my brother", "Tom Becker", "the plumber", "my daughter", "Aisha"],
    "day": ["Monday", "Friday", "the weekend", "next week", "the 15th", "tomorrow", "month end"],
    "card": ["debit card", "credit card", "visa card", "bank card"],
    "city": ["Lisbon", "Chicago", "Osaka", "Leeds", "Berlin", "Toronto", "Nairobi", "Lyon"],
    "street": ["Oak", "Mill", "Station", "Church", "Park", "Elm"],
    "relative": ["wife", "husband", "son", "daughter", "partner", "mother"],
    "shop": ["Amazon", "a gas station", "Spotify", "a hotel in Rome", "an online store", "Uber", "the gym"],
}


def _fill(template: str, rng: random.Random) -> str:
    values = {slot: rng.choice(options) for slot, options in _SLOTS.items()}
    return template.format(**values)


def generate(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` distinct (message, label) pairs, labels in round-robin so classes stay balanced."""
    rng = random.Random(f"intents:{seed}")
    seen: set[str] = set()
    pairs: list[tuple[str, str]] = []
    attempts = 0
    while len(pairs) < n:
        attempts += 1
        if attempts > 200 * n:
            raise ValueError(f"intents: cannot make {n} distinct examples from the templates")
        label = LABELS[len(pairs) % len(LABELS)]
        text = _fill(rng.choice(_TEMPLATES[label]), rng)
        if text in seen:
            continue
        seen.add(text)
        pairs.append((text, label))
    return pairs
