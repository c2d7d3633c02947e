"""`venalab synth` and `venalab cohort ...`: synthetic cohorts, batch runs, cohort reports.

    venalab synth --n 10000 --seed 7 -o cohort/              # JSONL + Parquet tables
    venalab cohort assess cohort/ -o results.parquet          # vectorized, this process
    venalab cohort assess cohort/ -o results.parquet --dask   # 2 local Dask workers
    venalab cohort assess cohort/ -o results.parquet --scheduler tcp://10.0.0.5:8786
    venalab cohort report results.parquet -o report.html

Mounted lazily by venalab.cli (LazyGroup) as `cohort` and `synth`.

Exit status: 0 success (rejected exams do not fail a run: they are listed in
OUT/errors.jsonl); 2 invalid options or input; 1 unexpected failure.
"""

from __future__ import annotations

import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from venalab.cohort import DEFAULT_PARTITION
from venalab.criteria import CRITERIA, DEFAULT_CRITERIA_ID, get_criteria
from venalab.errors import InvalidInput

cohort_app = typer.Typer(
    help="Cohort analytics: batch interpretation of exam tables and cohort reports.",
    no_args_is_help=True,
)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 110)


class EngineChoice(StrEnum):
    vectorized = "vectorized"
    per_exam = "per-exam"


class TptChoice(StrEnum):
    distal = "distal"
    proximal = "proximal"


class SynthFormat(StrEnum):
    both = "both"
    jsonl = "jsonl"
    parquet = "parquet"


def _fail(where: str, error: InvalidInput) -> NoReturn:
    err.print(f"[bold red]{where}[/]: invalid {error.what}, {len(error.problems)} problem(s):")
    for p in error.problems:
        err.print(f"  {p.path or '(input)'}: {p.message}", markup=False, highlight=False)
    raise typer.Exit(2)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def synth_command(
    n: Annotated[int, typer.Option("--n", help="Number of exams.", min=0)] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same cohort).")] = 1,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write.")] = Path(
        "cohort"
    ),
    fmt: Annotated[
        SynthFormat, typer.Option("--format", help="jsonl, parquet, or both.")
    ] = SynthFormat.both,
    malformed: Annotated[
        int,
        typer.Option(help="Deliberately broken exams to include (robustness tests).", min=0),
    ] = 0,
) -> None:
    """Write a synthetic cohort from the documented generative model (docs/cohorts.md).

    Files: exams.jsonl (one exam document per line) and exams/legs/segments.parquet (the
    same exams as flat tables), plus cohort.json describing the run.
    """
    from venalab.cohort.synth import write_synthetic

    t0 = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task("generating", total=n)
        jsonl_task = progress.add_task("writing JSONL", total=n, visible=fmt != SynthFormat.parquet)
        try:
            info = write_synthetic(
                n,
                seed,
                output,
                jsonl=fmt in (SynthFormat.both, SynthFormat.jsonl),
                parquet=fmt in (SynthFormat.both, SynthFormat.parquet),
                malformed=malformed,
                on_generated=lambda k: progress.advance(task, k),
                on_written=lambda k: progress.advance(jsonl_task, k),
            )
        except InvalidInput as e:
            _fail("synth", e)
    err.print(
        f"wrote {info['n']:,} exams ({info['legs']:,} legs, {info['segments']:,} segments) "
        f"to {output} in {time.perf_counter() - t0:.1f} s: {', '.join(info['files'])}"
    )


@cohort_app.command("assess")
def assess_command(
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT", help="Cohort folder (exams/legs/segments.parquet) or a JSONL file."
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Results folder (e.g. results.parquet).")
    ],
    criteria: Annotated[
        str, typer.Option("--criteria", "-c", help=f"Criteria set id ({', '.join(CRITERIA)}).")
    ] = DEFAULT_CRITERIA_ID,
    tibioperoneal_trunk: Annotated[
        TptChoice,
        typer.Option(help="Tibioperoneal-trunk thrombus as distal (UTT16) or proximal (CACTUS)."),
    ] = TptChoice.distal,
    engine: Annotated[
        EngineChoice,
        typer.Option(help="vectorized (fast) or per-exam (venalab.engine.assess per exam)."),
    ] = EngineChoice.vectorized,
    partition_size: Annotated[
        int, typer.Option(help="Exams per partition (unit of progress, resume and Dask).", min=1)
    ] = DEFAULT_PARTITION,
    dask: Annotated[
        bool, typer.Option("--dask", help="Run partitions on a local Dask cluster.")
    ] = False,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler address (tcp://host:8786): run on that cluster."),
    ] = None,
    workers: Annotated[int, typer.Option(help="Workers of the local Dask cluster.", min=1)] = 2,
    parallel: Annotated[
        int,
        typer.Option(
            help="Partitions assessed at once in this process (threads; without Dask).", min=1
        ),
    ] = 2,
    overwrite: Annotated[
        bool, typer.Option(help="Discard earlier results in OUTPUT instead of resuming.")
    ] = False,
) -> None:
    """Interpret a whole cohort: per-segment and per-leg results as Parquet, resumable.

    Rejected exams (invalid documents or rows) are listed with their row, patient id and
    problems in OUTPUT/errors.jsonl; the others are assessed. Rerunning the same command
    skips the partitions already written.
    """
    from venalab.cohort.distributed import run_dask
    from venalab.cohort.runner import PartitionSummary, Settings, Source, plan, run_local
    from venalab.result import EngineOptions

    try:
        cs = get_criteria(criteria)
        source = Source.open(input_path)
        options = EngineOptions(criteria=cs.id, tibioperoneal_trunk=tibioperoneal_trunk.value)
        settings = Settings(
            criteria=cs.id,
            options=options.model_dump(mode="json", exclude_none=True),
            engine="per-exam" if engine is EngineChoice.per_exam else "vectorized",
            partition_size=partition_size,
        )
        parts = plan(source, partition_size)
    except InvalidInput as e:
        _fail("cohort assess", e)
    t0 = time.perf_counter()
    total = parts[-1].hi - parts[0].lo if parts else 0
    with _progress() as progress:
        task = progress.add_task("assessing exams", total=total)

        def advance(s: PartitionSummary) -> None:
            progress.advance(task, parts[s.index].hi - parts[s.index].lo)

        try:
            if dask or scheduler:
                summary = run_dask(
                    source,
                    output,
                    settings,
                    scheduler=scheduler,
                    n_workers=workers,
                    overwrite=overwrite,
                    progress=advance,
                    parts=parts,
                )
            else:
                summary = run_local(
                    source,
                    output,
                    settings,
                    overwrite=overwrite,
                    progress=advance,
                    parts=parts,
                    concurrent=parallel,
                )
        except InvalidInput as e:
            _fail("cohort assess", e)
    seconds = time.perf_counter() - t0
    rate = summary["exams"] / seconds if seconds > 0 else 0.0
    skipped = summary["partitions_skipped"]
    err.print(
        f"{summary['valid']:,} of {summary['exams']:,} exams assessed "
        f"({summary['legs']:,} legs, {summary['segments']:,} segments) in {seconds:.1f} s "
        f"({rate:,.0f} exams/s){f', {skipped} partition(s) reused' if skipped else ''}; "
        f"results in {output}"
    )
    if summary["rejected"]:
        err.print(
            f"[yellow]{summary['rejected']:,} exam(s) rejected[/]: see {output / 'errors.jsonl'}"
        )


@cohort_app.command("report")
def report_command(
    results: Annotated[
        Path, typer.Argument(metavar="RESULTS", help="Results folder of `venalab cohort assess`.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path(
        "cohort-report.html"
    ),
    title: Annotated[str | None, typer.Option(help="Report title.")] = None,
    images: Annotated[
        str, typer.Option(help="Plot format embedded in the HTML: svg or png.")
    ] = "svg",
) -> None:
    """Prevalence tables and plots of a cohort run, as one self-contained HTML file."""
    from venalab.cohort.report import write_report

    try:
        info = write_report(results, output, title=title, image_format=images)
    except InvalidInput as e:
        _fail("cohort report", e)
    err.print(f"wrote {output} ({info['legs']:,} legs, {info['figures']} figures)")
