"""The progress bar of the data tools (SynthGait generation, gaitwave-prepare)."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def sequence_progress(title: str, counts: str) -> Progress:
    """A rich bar over sequences: `<title> <task description> [bar] n/N <counts> elapsed left`.

    `counts` is a rich format string over the task's fields, e.g.
    `"sequences, {task.fields[fps]:,.0f} frames/s"`.
    """
    return Progress(
        TextColumn(f"[bold]{title}[/bold] {{task.description}}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(counts),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
