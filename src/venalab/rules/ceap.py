"""CEAP 2020 clinical classes (Lurie et al. 2020, CEAP20; definitions clinical.md section 2.2).

The C class of a limb is derived from the signs recorded on that leg: every class present
is listed (advanced CEAP) and the highest is the basic class.
"""

from __future__ import annotations

from venalab.exam import Clinical

# sign -> C class (CEAP20 table via clinical.md 2.2; C4c corona phlebectatica is new in 2020)
SIGN_CLASS: dict[str, str] = {
    "telangiectasia": "C1",
    "reticular": "C1",
    "varicose": "C2",
    "edema": "C3",
    "pigmentation": "C4a",
    "eczema": "C4a",
    "lipodermatosclerosis": "C4b",
    "atrophie-blanche": "C4b",
    "corona-phlebectatica": "C4c",
    "ulcer-healed": "C5",
    "ulcer-active": "C6",
}
C_ORDER: tuple[str, ...] = ("C0", "C1", "C2", "C2r", "C3", "C4a", "C4b", "C4c", "C5", "C6", "C6r")


def clinical_classes(clinical: Clinical) -> tuple[str, ...]:
    """All C classes of a limb in CEAP order, with the 2020 `r` modifier for recurrences.

    No recorded sign gives C0 (no visible or palpable sign of venous disease).
    """
    classes = {SIGN_CLASS[s] for s in clinical.signs}
    if "C2" in classes and "varicose" in clinical.recurrent:
        classes = (classes - {"C2"}) | {"C2r"}
    if "C6" in classes and "ulcer" in clinical.recurrent:
        classes = (classes - {"C6"}) | {"C6r"}
    if not classes:
        classes = {"C0"}
    return tuple(c for c in C_ORDER if c in classes)


def has_ulcer_class(classes: tuple[str, ...]) -> bool:
    """True for a C5-C6 limb (healed or active ulcer, recurrent included)."""
    return any(c.startswith(("C5", "C6")) for c in classes)
