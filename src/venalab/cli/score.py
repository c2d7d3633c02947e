"""`venalab score`: bedside calculators for clinicians who just want the number.

    venalab score ceap "C2,4a,5,S Ep As,p Pr2,3,18"
    venalab score vcss pain=2 varicose_veins=3 edema=2 ...   [--file items.json] [--json]
    venalab score villalta pain=1 cramps=1 ... ulcer=no
    venalab score wells active_cancer=yes entire_leg_swollen=yes ... [--version 1997]

Items are ITEM=VALUE arguments (numbers 0-3, or yes/no), a JSON file of the same items, or
both (arguments win). The same rule modules as `venalab assess` compute every score.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table

from venalab.bounded import decode_json, read_limited
from venalab.errors import InvalidInput, Problem, problems_from_validation
from venalab.exam import VcssItems, VillaltaItems, WellsItems
from venalab.rules.ceap import parse_ceap
from venalab.rules.vcss import score_vcss
from venalab.rules.villalta import score_villalta
from venalab.rules.wells import score_wells

score_app = typer.Typer(
    help="Calculators: CEAP, rVCSS, Villalta, Wells (items as ITEM=VALUE or --file).",
    no_args_is_help=True,
)
out = Console(width=None if sys.stdout.isatty() else 110)
err = Console(stderr=True)

_BOOL = {
    "yes": True,
    "y": True,
    "true": True,
    "1": True,
    "no": False,
    "n": False,
    "false": False,
    "0": False,
}


def _fail(what: str, problems: list[Problem]) -> NoReturn:
    err.print(f"[bold red]invalid {what}[/], {len(problems)} problem(s):")
    for p in problems:
        err.print(f"  {p.path or '(items)'}: {p.message}", markup=False, highlight=False)
    raise typer.Exit(2)


def _items(model: type[BaseModel], what: str, pairs: list[str], file: Path | None) -> Any:
    """Merge a JSON file and ITEM=VALUE pairs, then validate strictly against `model`."""
    data: dict[str, Any] = {}
    if file is not None:
        try:
            loaded = decode_json(read_limited(file, what=what), what, name=file.name)
        except InvalidInput as e:
            _fail(what, [Problem(f"--file {p.path}".strip(), p.message) for p in e.problems])
        if not isinstance(loaded, dict):
            _fail(what, [Problem("--file", "expected a JSON object of items")])
        data.update(loaded)
    problems: list[Problem] = []
    bool_fields = {
        name for name, f in model.model_fields.items() if f.annotation in (bool | None, bool)
    }
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            problems.append(Problem(pair, "expected ITEM=VALUE, e.g. pain=2"))
            continue
        value: Any
        if name in bool_fields:
            if raw.lower() not in _BOOL:
                problems.append(Problem(f"{what}.{name}", "expected yes or no"))
                continue
            value = _BOOL[raw.lower()]
        else:
            try:
                value = float(raw) if "." in raw else int(raw)
            except ValueError:
                problems.append(Problem(f"{what}.{name}", f"expected a number, got {raw!r}"))
                continue
        data[name] = value
    if problems:
        _fail(what, problems)
    try:
        return model.model_validate_json(json.dumps(data))
    except ValidationError as e:
        _fail(
            what,
            [
                Problem(f"{what}.{p.path}" if p.path else what, p.message)
                for p in problems_from_validation(e)
            ],
        )


def _emit_json(model: BaseModel) -> None:
    sys.stdout.write(model.model_dump_json(indent=2) + "\n")


Pairs = Annotated[list[str] | None, typer.Argument(help="ITEM=VALUE pairs.", show_default=False)]
FileOpt = Annotated[Path | None, typer.Option("--file", help="JSON object of items.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")]


@score_app.command("ceap")
def score_ceap(
    text: Annotated[str, typer.Argument(help='A CEAP string, e.g. "C2,4a,5,S Ep As,p Pr2,3,18".')],
    style: Annotated[str, typer.Option(help="Normalised output style: 2020 or 2004.")] = "2020",
    as_json: JsonOpt = False,
) -> None:
    """Validate a CEAP string (2004 or 2020 style), explain each item, normalise it."""
    if style not in ("2020", "2004"):
        _fail("option", [Problem("--style", "expected 2020 or 2004")])
    try:
        parsed = parse_ceap(text)
    except InvalidInput as e:
        _fail("CEAP string", list(e.problems))
    if as_json:
        _emit_json(parsed)
        return
    table = Table("item", "meaning", title=f"CEAP {text}", title_justify="left")
    for token, meaning in parsed.explain():
        table.add_row(token, meaning)
    out.print(table)
    out.print(f"normalised ({style}): [bold]{parsed.normalised(style=style)}[/]")  # type: ignore[arg-type]


@score_app.command("vcss")
def score_vcss_cmd(pairs: Pairs = None, file: FileOpt = None, as_json: JsonOpt = False) -> None:
    """Revised VCSS (Vasquez 2010): pain varicose_veins edema pigmentation inflammation
    induration active_ulcers ulcer_duration ulcer_size compression (0-3 each)."""
    items: VcssItems = _items(VcssItems, "vcss", pairs or [], file)
    try:
        result = score_vcss(items, path="vcss")
    except InvalidInput as e:
        _fail("vcss items", list(e.problems))
    if as_json:
        _emit_json(result)
        return
    table = Table("item", "score", "descriptor", title=result.scale, title_justify="left")
    for it in result.items:
        score = (
            str(it.score)
            if it.score is not None
            else (f">= {it.minimum}" if it.minimum else "missing")
        )
        table.add_row(it.label, score, it.descriptor or "")
    out.print(table)
    out.print(
        f"[bold]total {result.total}[/]"
        + ("" if result.complete else f" (lower bound; at most {result.upper_bound})")
    )
    out.print(result.statement)


@score_app.command("villalta")
def score_villalta_cmd(pairs: Pairs = None, file: FileOpt = None, as_json: JsonOpt = False) -> None:
    """Villalta PTS scale: pain cramps heaviness paresthesia pruritus pretibial_edema
    skin_induration hyperpigmentation redness venous_ectasia calf_compression_pain (0-3),
    ulcer (yes/no)."""
    items: VillaltaItems = _items(VillaltaItems, "villalta", pairs or [], file)
    result = score_villalta(items)
    if as_json:
        _emit_json(result)
        return
    table = Table("item", "group", "score", title=result.scale, title_justify="left")
    for it in result.items:
        table.add_row(it.label, it.group, "missing" if it.score is None else str(it.score))
    out.print(table)
    out.print(f"[bold]total {result.total}[/], category {result.category or 'undecided'}")
    out.print(result.statement)


@score_app.command("wells")
def score_wells_cmd(
    pairs: Pairs = None,
    file: FileOpt = None,
    version: Annotated[str, typer.Option(help="Item set: 2003 (default) or 1997.")] = "2003",
    others_no: Annotated[
        bool,
        typer.Option(
            "--others-no", help="Answer every item not given as 'no' (otherwise it is missing)."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Wells DVT score: active_cancer paralysis_or_cast bedridden_or_major_surgery
    localized_tenderness entire_leg_swollen calf_swelling_3cm pitting_edema
    collateral_superficial_veins previous_dvt alternative_diagnosis_as_likely (yes/no)."""
    if version not in ("2003", "1997"):
        _fail("option", [Problem("--version", "expected 2003 or 1997")])
    items: WellsItems = _items(WellsItems, "wells", pairs or [], file)
    if others_no:
        items = items.model_copy(
            update={k: False for k, v in items.model_dump().items() if v is None}
        )
    result = score_wells(items, version=version)  # type: ignore[arg-type]
    if as_json:
        _emit_json(result)
        return
    table = Table("item", "points", "answer", title=result.version_label, title_justify="left")
    for it in result.items:
        answer = "missing" if it.answer is None else ("yes" if it.answer else "no")
        table.add_row(
            it.label, f"{it.points:+d}", answer + ("" if it.counted else " (not counted)")
        )
    out.print(table)
    out.print(result.statement)
