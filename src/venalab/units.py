"""Laboratory unit conversion (conventional <-> SI), factors from `data/lab_units.toml`.

Source: shared/reference/clinical.md section 5.2 (citation id SI-UNITS).
"""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict, ValidationError

from venalab.datafiles import data_path, read_toml
from venalab.errors import InvalidInput, problems_from_validation


class LabUnitSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    conventional: str
    si: str | None = None
    si_per_conventional: float | None = None
    plausible: tuple[float, float]

    @property
    def units(self) -> tuple[str, ...]:
        return (self.conventional,) if self.si is None else (self.conventional, self.si)

    def to_conventional(self, value: float, unit: str) -> float:
        if unit == self.conventional:
            return value
        if unit == self.si and self.si_per_conventional:
            return value / self.si_per_conventional
        raise ValueError(f"unit {unit!r} is not one of {', '.join(self.units)}")

    def to_si(self, value: float, unit: str) -> float:
        if self.si is None or self.si_per_conventional is None:
            raise ValueError(f"{self.label} has no SI unit")
        return self.to_conventional(value, unit) * self.si_per_conventional


@cache
def _load() -> dict[str, LabUnitSpec]:
    raw = read_toml(data_path("lab_units.toml"))
    specs: dict[str, LabUnitSpec] = {}
    for key, body in raw.items():
        if not isinstance(body, dict):
            continue
        try:
            specs[key] = LabUnitSpec.model_validate(body)
        except ValidationError as err:
            raise InvalidInput(
                problems_from_validation(err), what=f"lab_units.toml [{key}]"
            ) from None
    return specs


LAB_UNITS: dict[str, LabUnitSpec] = _load()
LAB_UNITS_SOURCE = "SI-UNITS"


def to_conventional(analyte: str, value: float, unit: str) -> float:
    """Value of `analyte` in its conventional unit (mg/dL, pg/mL, ng/mL)."""
    return LAB_UNITS[analyte].to_conventional(value, unit)


def to_si(analyte: str, value: float, unit: str) -> float:
    """Value of `analyte` in its SI unit (mmol/L, pmol/L, umol/L, nmol/L)."""
    return LAB_UNITS[analyte].to_si(value, unit)
