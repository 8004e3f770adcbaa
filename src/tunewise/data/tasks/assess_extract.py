"""Built-in assess task ``extract``: pull the fields of a free-text order into a JSON object.

Gold answers are canonical JSON; the ``json`` metric compares parsed objects, so key order and
spacing do not matter but every field value does.
"""

from __future__ import annotations

import json
import random

NAME = "extract"
INSTRUCTION = "Extract the order as JSON."
DESCRIPTION = (
    "Extract the order in the user's message as one JSON object with exactly these keys: "
    '"name" (the customer\'s full name, string), "item" (the product, singular, lower case, '
    'without the colour), "quantity" (integer), "color" (lower case string) and "city" '
    "(delivery city, string). Reply with the JSON object only, on one line."
)
METRIC = {"name": "json"}

_FIRST = ["Alice", "Bruno", "Chen", "Dana", "Emeka", "Fatima", "Gustav", "Hana", "Ivan", "Julia", "Kofi", "Lena"]
_LAST = ["Smith", "Rossi", "Wang", "Okafor", "Novak", "Haddad", "Larsen", "Sato", "Petrov", "Silva"]
_ITEMS = [("mug", "mugs"), ("chair", "chairs"), ("lamp", "lamps"), ("notebook", "notebooks"),
          ("backpack", "backpacks"), ("umbrella", "umbrellas"), ("towel", "towels"), ("kettle", "kettles")]
_COLORS = ["red", "blue", "green", "black", "white", "yellow", "grey"]
_CITIES = ["Berlin", "Madrid", "Austin", "Dublin", "Seoul", "Cairo", "Oslo", "Lima", "Perth"]
_NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 10: "ten", 12: "a dozen"}
_TEMPLATES = [
    "Hi, this is {name}. Please send {qty} {color} {items} to {city}.",
    "Order for {name}: {qty} x {color} {item}, deliver to {city}.",
    "{name} here, I need {qty} {color} {items} shipped to my office in {city}.",
    "Could you deliver {qty} {items} in {color} to {city}? Thanks, {name}",
    "Ship to {city} - {qty} {color} {items}. Customer: {name}.",
]


def generate(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` distinct (order text, JSON) pairs."""
    rng = random.Random(f"extract:{seed}")
    seen: set[str] = set()
    pairs: list[tuple[str, str]] = []
    while len(pairs) < n:
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        item, items = rng.choice(_ITEMS)
        qty = rng.choice([1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 25])
        color, city = rng.choice(_COLORS), rng.choice(_CITIES)
        qty_text = _NUMBER_WORDS[qty] if qty in _NUMBER_WORDS and rng.random() < 0.3 else str(qty)
        text = rng.choice(_TEMPLATES).format(name=name, qty=qty_text, color=color, item=item,
                                             items=item if qty == 1 else items, city=city)
        if text in seen:
            continue
        seen.add(text)
        gold = {"name": name, "item": item, "quantity": qty, "color": color, "city": city}
        pairs.append((text, json.dumps(gold)))
    return pairs
