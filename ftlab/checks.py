"""Claims that check themselves: every number a lesson's prose relies on goes through here.

Introduced in lesson 00. A passing check prints one ``✓`` line; a failing one raises
:class:`CheckFailed` (an ``AssertionError``), so nbval and pytest fail loudly when a claim in
the prose stops being true.
"""

from __future__ import annotations

import math


class CheckFailed(AssertionError):
    """A lesson claim or exercise answer that does not hold."""


def check(condition, claim: str, detail: str = "") -> None:
    """Assert a claim made in a lesson.

    Args:
        condition: anything truthy when the claim holds.
        claim: the claim in plain words, e.g. ``"fine-tuning beats training from scratch"``.
        detail: optional figures shown with the result (``"0.91 vs 0.55"``).

    Returns:
        None: a passing check prints ``✓ claim`` and nothing else, so a cell that ends with a
        check shows no stray ``True``.

    Raises:
        CheckFailed: when it does not, with the claim and the detail in the message.

    Example:
        >>> check(0.9 > 0.5, "fine-tuned beats scratch", "0.90 vs 0.50")
        ✓ fine-tuned beats scratch (0.90 vs 0.50)
    """
    suffix = f" ({detail})" if detail else ""
    if not bool(condition):
        raise CheckFailed(f"✗ {claim}{suffix}")
    print(f"✓ {claim}{suffix}")


def check_between(value: float, low: float, high: float, claim: str) -> None:
    """Check ``low <= value <= high`` and show the value.

    Example:
        >>> check_between(0.3, 0.0, 1.0, "a probability")
        ✓ a probability (0.3 in [0, 1])
    """
    ok = value is not None and not math.isnan(float(value)) and low <= value <= high
    check(ok, claim, f"{value:.4g} in [{low:g}, {high:g}]")


def check_greater(a: float, b: float, claim: str, margin: float = 0.0) -> None:
    """Check ``a > b + margin`` and show both numbers.

    Example:
        >>> check_greater(0.9, 0.5, "fine-tuning wins", margin=0.1)
        ✓ fine-tuning wins (0.9 > 0.5 + 0.1)
    """
    detail = f"{a:.4g} > {b:.4g}" + (f" + {margin:g}" if margin else "")
    check(float(a) > float(b) + margin, claim, detail)


_require_answers = False


def require_answers(required: bool = True) -> None:
    """Make an unanswered exercise fail instead of waiting for the learner.

    A lesson leaves its answers as ``None`` for you to fill in, and :func:`exercise` then only
    says "not answered yet". The solutions notebooks call this first, so every worked answer must
    really pass its check (tools/make_solutions.py adds the call).

    Example:
        >>> require_answers()
        >>> require_answers(False)
    """
    global _require_answers
    _require_answers = bool(required)


def exercise(name: str, condition, hint: str = "", *, answer=True) -> None:
    """Check a learner's exercise answer; the failure message carries a hint, not the answer.

    Introduced in lesson 00. Each lesson's exercise cells start with ``answer_1 = None``; until
    you replace ``None``, the check says so and moves on (the notebook still runs top to bottom).

    Args:
        name: ``"1.1 unfreeze stage 7"``: the exercise's number, then what it asks.
        condition: truthy when the answer is right, or a function of no arguments returning that
            (called only once there is an answer, so it may use the answer freely).
        hint: shown when the answer is wrong or missing.
        answer: the learner's answer; ``None`` means "not answered yet".

    Returns:
        None: the printed line says "solved" or "not answered yet" (a returned bool would also
        show as a stray ``True``/``False`` under every exercise cell).

    Raises:
        CheckFailed: when the answer is wrong (or checking it raises), or when it is missing
            after :func:`require_answers`.

    Example:
        >>> exercise("1.1 unfreeze stage 7", True)
        ✓ exercise 1.1 unfreeze stage 7: solved
        >>> exercise("1.2 double it", lambda: answer == 4, answer=None, hint="2 + 2")
        ○ exercise 1.2 double it: not answered yet; replace None in the cell above (hint: 2 + 2)
    """
    hint_text = f" (hint: {hint})" if hint else ""
    if answer is None:
        if _require_answers:
            raise CheckFailed(f"✗ exercise {name}: no answer (it is still None){hint_text}")
        print(f"○ exercise {name}: not answered yet; replace None in the cell above{hint_text}")
        return
    if callable(condition):
        try:
            condition = condition()
        except Exception as error:
            raise CheckFailed(
                f"✗ exercise {name}: checking your answer raised {type(error).__name__}: {error}{hint_text}"
            ) from error
    if not bool(condition):
        raise CheckFailed(f"✗ exercise {name}: not solved yet{hint_text}")
    print(f"✓ exercise {name}: solved")
