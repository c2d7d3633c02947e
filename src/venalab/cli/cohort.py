"""`venalab synth` and `venalab cohort ...`: synthetic cohorts, batch runs, cohort reports.

    venalab synth --n 10000 --seed 7 -o cohort/              # JSONL + Parquet tables
    venalab cohort assess cohort/ -o results.parquet          # vectorized, this process
    venalab cohort assess cohort/ -o results.parquet --dask   # 2 local Dask workers
    venalab cohort assess cohort/ -o results.parquet --scheduler tcp://10.0.0.5:8786
    venalab cohort assess exams.jsonl -o results.parquet      # converts the JSONL once
    venalab cohort convert exams.jsonl -o cohort/             # a reusable cohort folder
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
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
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

if TYPE_CHECKING:
    from venalab.cohort.runner import Settings, Source

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


def _progress(*, in_bytes: bool = False) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn() if in_bytes else MofNCompleteColumn(),
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
            help="Partitions assessed at once in this process (threads; without Dask), and "
            "processes converting a JSONL input.",
            min=1,
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
    from venalab.cohort.runner import (
        PartitionSummary,
        Settings,
        Source,
        absolute,
        plan,
        run_local,
    )
    from venalab.result import EngineOptions

    # absolute on this machine: Dask workers have other working directories
    output = absolute(output)
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
        if source.kind == "jsonl" and settings.engine == "vectorized":
            source = _converted_input(Path(source.path), output, settings, overwrite, parallel)
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


def _digest(jsonl: Path, folder: Path) -> str:
    """The JSONL's content digest (a bar when it has to be read: no earlier conversion)."""
    from venalab.cohort.convert import input_digest, known_digest

    known = known_digest(jsonl, folder)
    if known is not None:
        return known
    with _progress(in_bytes=True) as progress:
        task = progress.add_task(f"checking {jsonl.name}", total=jsonl.stat().st_size)
        return input_digest(jsonl, folder, lambda k: progress.advance(task, k))


def _convert(jsonl: Path, folder: Path, digest: str, workers: int) -> None:
    from venalab.cohort.convert import cached_conversion

    folder.mkdir(parents=True, exist_ok=True)
    with _progress(in_bytes=True) as progress:
        task = progress.add_task("converting to Parquet", total=jsonl.stat().st_size)
        conversion = cached_conversion(
            jsonl, folder, digest, progress=lambda k: progress.advance(task, k), workers=workers
        )
    c = conversion.counts
    err.print(
        f"converted {c['exams']:,} exams ({c['rejected']:,} rejected) "
        f"in {conversion.seconds:.1f} s into {folder}"
    )


def _converted_input(
    jsonl: Path, output: Path, settings: Settings, overwrite: bool, workers: int
) -> Source:
    """The JSONL input converted once into OUTPUT/_input (reused while unchanged)."""
    from venalab.cohort.convert import CACHE_DIR, is_current
    from venalab.cohort.runner import Source, check_output

    cache = output / CACHE_DIR
    digest = _digest(jsonl, cache)
    source = Source("parquet", str(cache), origin=str(jsonl), digest=digest)
    # refuse now, not after a long conversion, an OUTPUT that holds something else
    check_output(output, source, settings, overwrite=overwrite)
    if is_current(cache, digest):
        err.print(f"JSONL input: reusing its Parquet conversion in {cache}")
        return source
    err.print(
        f"JSONL input: converting {jsonl.name} to Parquet once, into {cache}; every document "
        "is validated with the exam model. Later runs into this output folder reuse it "
        "(`venalab cohort convert` writes a cohort folder that any run can use)."
    )
    _convert(jsonl, cache, digest, workers)
    return source


@cohort_app.command("convert")
def convert_command(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="JSONL file of exam documents, one per line.")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Cohort folder to write (Parquet tables).")
    ],
    parallel: Annotated[int, typer.Option(help="Processes converting at once.", min=1)] = 2,
) -> None:
    """Convert a JSONL cohort once into a cohort folder (Parquet tables), for fast runs.

    Every document is validated with the exam model; the lines that are not valid exams
    are kept in OUTPUT/rejected.parquet, and every run of the folder lists them among its
    rejected exams. Converting an unchanged file again reuses the folder.
    """
    from venalab.cohort.convert import STAMP, is_current
    from venalab.cohort.runner import absolute

    jsonl, output = absolute(input_path), absolute(output)
    if not jsonl.is_file():
        err.print(f"[bold red]cohort convert[/]: {input_path} is not a file")
        raise typer.Exit(2)
    if output.is_dir() and any(output.iterdir()) and not (output / STAMP).exists():
        err.print(
            f"[bold red]cohort convert[/]: {output} exists and is not a conversion folder; "
            "give a new or empty folder"
        )
        raise typer.Exit(2)
    digest = _digest(jsonl, output)
    if is_current(output, digest):
        err.print(f"{jsonl.name} is unchanged: {output} already holds its conversion")
        return
    _convert(jsonl, output, digest, parallel)


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

    with _progress() as progress:
        task = progress.add_task("reading results", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            info = write_report(results, output, title=title, image_format=images, progress=advance)
        except InvalidInput as e:
            _fail("cohort report", e)
    err.print(f"wrote {output} ({info['legs']:,} legs, {info['figures']} figures)")
