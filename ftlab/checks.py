"""Claims that check themselves: every number a lesson's prose relies on goes through here.

Introduced in lesson 00. A passing check prints one ``✓`` line; a failing one raises
:class:`CheckFailed` (an ``AssertionError``), so nbval and pytest fail loudly when a claim in
the prose stops being true.
"""

from __future__ import annotations

import math


class CheckFailed(AssertionError):
    """A lesson claim or exercise answer that does not hold."""


def check(condition, claim: str, detail: str = "") -> bool:
    """Assert a claim made in a lesson.

    Args:
        condition: anything truthy when the claim holds.
        claim: the claim in plain words, e.g. ``"fine-tuning beats training from scratch"``.
        detail: optional figures shown with the result (``"0.91 vs 0.55"``).

    Returns:
        True when the claim holds (it prints ``✓ claim``).

    Raises:
        CheckFailed: when it does not, with the claim and the detail in the message.

    Example:
        >>> check(0.9 > 0.5, "fine-tuned beats scratch", "0.90 vs 0.50")
        ✓ fine-tuned beats scratch (0.90 vs 0.50)
        True
    """
    suffix = f" ({detail})" if detail else ""
    if not bool(condition):
        raise CheckFailed(f"✗ {claim}{suffix}")
    print(f"✓ {claim}{suffix}")
    return True


def check_between(value: float, low: float, high: float, claim: str) -> bool:
    """Check ``low <= value <= high`` and show the value.

    Example:
        >>> check_between(0.3, 0.0, 1.0, "a probability")
        ✓ a probability (0.3 in [0, 1])
        True
    """
    ok = value is not None and not math.isnan(float(value)) and low <= value <= high
    return check(ok, claim, f"{value:.4g} in [{low:g}, {high:g}]")


def check_greater(a: float, b: float, claim: str, margin: float = 0.0) -> bool:
    """Check ``a > b + margin`` and show both numbers.

    Example:
        >>> check_greater(0.9, 0.5, "fine-tuning wins", margin=0.1)
        ✓ fine-tuning wins (0.9 > 0.5 + 0.1)
        True
    """
    detail = f"{a:.4g} > {b:.4g}" + (f" + {margin:g}" if margin else "")
    return check(float(a) > float(b) + margin, claim, detail)


def exercise(name: str, condition, hint: str = "") -> bool:
    """Check a learner's exercise answer; the failure message carries a hint, not the answer.

    Example:
        >>> exercise("1.1 unfreeze stage 7", True)
        ✓ exercise 1.1 unfreeze stage 7: solved
        True
    """
    if not bool(condition):
        raise CheckFailed(f"✗ exercise {name}: not solved yet" + (f" (hint: {hint})" if hint else ""))
    print(f"✓ exercise {name}: solved")
    return True
