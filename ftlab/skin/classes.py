"""The seven HAM10000 diagnoses: codes, names, and how often each occurs.

Introduced in lesson 02. Codes and counts are from Tschandl, Rosendahl & Kittler (2018),
"The HAM10000 dataset, a large collection of multi-source dermatoscopic images of common
pigmented skin lesions", Scientific Data 5, 180161 (10,015 images). DermaMNIST (MedMNIST,
Yang et al.) uses the same seven classes with labels 0..6 in this (alphabetical) order.
"""

from __future__ import annotations

# dx code -> plain name, in label order (label = position); the order DermaMNIST uses too.
DIAGNOSES: dict[str, str] = {
    "akiec": "actinic keratosis / intraepithelial carcinoma",
    "bcc": "basal cell carcinoma",
    "bkl": "benign keratosis-like lesion",
    "df": "dermatofibroma",
    "mel": "melanoma",
    "nv": "melanocytic nevus",
    "vasc": "vascular lesion",
}
DX_CODES: tuple[str, ...] = tuple(DIAGNOSES)
CLASS_NAMES: tuple[str, ...] = tuple(DIAGNOSES.values())

# Images per diagnosis in HAM10000 (Tschandl et al. 2018, table 1): nv is two thirds.
HAM10000_COUNTS: dict[str, int] = {
    "akiec": 327, "bcc": 514, "bkl": 1099, "df": 115, "mel": 1113, "nv": 6705, "vasc": 142,
}
HAM10000_TOTAL = sum(HAM10000_COUNTS.values())  # 10,015

# Malignant or pre-malignant diagnoses: missing one of these costs far more than a false alarm.
MALIGNANT: frozenset[str] = frozenset({"akiec", "bcc", "mel"})

MELANOMA = DX_CODES.index("mel")


def ham10000_proportions() -> dict[str, float]:
    """Share of each diagnosis in HAM10000 (sums to 1).

    Example:
        >>> round(ham10000_proportions()["nv"], 3)
        0.669
    """
    return {code: count / HAM10000_TOTAL for code, count in HAM10000_COUNTS.items()}


def label_of(code: str) -> int:
    """Label (0..6) of a dx code; raises ``KeyError`` naming the known codes.

    Example:
        >>> label_of("mel")
        4
    """
    key = str(code).strip().lower()
    if key not in DIAGNOSES:
        raise KeyError(f"unknown dx code {code!r}; known codes: {', '.join(DX_CODES)}")
    return DX_CODES.index(key)
