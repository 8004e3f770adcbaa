"""Built-in assess task ``units``: convert a quantity between units; scored numerically (1%).

Conversion factors are exact definitions (inch = 2.54 cm, pound = 0.45359237 kg, ...), so the
gold value is exact and the tolerance only absorbs the model's rounding.
"""

from __future__ import annotations

import random

NAME = "units"
INSTRUCTION = "Convert the quantity."
DESCRIPTION = (
    "Convert the quantity in the user's message to the requested unit. Reply with the number "
    "only, rounded to two decimals, without the unit or any words. Factors: 1 mile = 1.609344 km, "
    "1 inch = 2.54 cm, 1 foot = 0.3048 m, 1 pound = 0.45359237 kg, 1 US gallon = 3.785411784 L, "
    "Fahrenheit = Celsius x 9/5 + 32."
)
METRIC = {"name": "numeric", "rel_tol": 0.01, "abs_tol": 0.01}

# (from, to, function): linear factors and the one affine conversion (temperature).
_CONVERSIONS = [
    ("km", "miles", lambda v: v / 1.609344), ("miles", "km", lambda v: v * 1.609344),
    ("inches", "cm", lambda v: v * 2.54), ("cm", "inches", lambda v: v / 2.54),
    ("feet", "meters", lambda v: v * 0.3048), ("meters", "feet", lambda v: v / 0.3048),
    ("pounds", "kg", lambda v: v * 0.45359237), ("kg", "pounds", lambda v: v / 0.45359237),
    ("gallons", "liters", lambda v: v * 3.785411784), ("liters", "gallons", lambda v: v / 3.785411784),
    ("°C", "°F", lambda v: v * 9 / 5 + 32), ("°F", "°C", lambda v: (v - 32) * 5 / 9),
]
_PHRASES = ["Convert {v} {a} to {b}.", "How many {b} is {v} {a}?", "{v} {a} in {b}?",
            "What is {v} {a} expressed in {b}?"]


def generate(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` distinct (question, answer) pairs; answers carry two decimals."""
    rng = random.Random(f"units:{seed}")
    seen: set[str] = set()
    pairs: list[tuple[str, str]] = []
    while len(pairs) < n:
        source, target, convert = rng.choice(_CONVERSIONS)
        value = rng.choice([rng.randint(1, 200), round(rng.uniform(0.5, 100), 1)])
        text = rng.choice(_PHRASES).format(v=value, a=source, b=target)
        if text in seen:
            continue
        seen.add(text)
        pairs.append((text, f"{convert(value):.2f}"))
    return pairs
