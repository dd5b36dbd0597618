"""How each dataset ships its silhouettes, and where each raw sequence goes in the pickle layout.

A layout maps the folder that holds a sequence's PNG frames (its path relative to the raw root,
as a tuple of names) to the `(id, type, view)` of `out/<id>/<type>/<view>/<view>.pkl`:

- `casiab`: `<id>/<type>/<view>/*.png` -> `(id, type, view)`; 320 x 240 frames, pretreated.
- `oumvlp`: `Silhouette_<view>-<seq>/<id>/*.png` -> `(id, seq, view)`; pretreated.
- `gait3d`: the `2D_Silhouettes` folder, `<id>/<camid..._videoid...>/<seqN>/*.png` ->
  `(id, camid..._videoid..., seqN)`; person crops of varying size, pretreated.
- `grew`: `train/<id>/<seq>/*.png` -> `(<id>train, 00, seq)`; `test/gallery/<id>/<seq>/*.png` ->
  `(id, 01 | 02, seq)`, an id's gallery sequences numbered in sorted name order;
  `test/probe/<seq>/*.png` -> `(probe, 03, seq)` (the official probes, labels hidden).
  GREW ships silhouettes already aligned to 64 x 64, so they are stored as they are (not
  pretreated twice); `<seq>_gei.png` images beside the sequence folders and the `distractor`
  set are ignored.

These follow how OpenGait rearranges the shipped trees (its `datasets/*/` scripts), so OpenGait's
partition files (`OUMVLP.json`, `Gait3D.json`, `GREW.json`) name the same ids. One difference:
OpenGait numbers an id's GREW gallery sequences in directory-listing order (arbitrary); here the
order is sorted by sequence name, so the numbering is reproducible. The official GREW protocol
uses 01 and 02 alike as gallery; only the local proxy (gallery 01, probe 02) depends on it.

Each layout also carries its dataset's partition rules: the split it defines itself (CASIA-B's
fixed ids, GREW's from its tree), where the published one comes from otherwise (OU-MVLP, Gait3D),
and what a given partition must hold (Gait3D's PROBE_SET, GREW's probes in TEST_SET).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gaitwave.data.index import PROBE_SET, DatasetLayoutError

Folder = tuple[str, ...]  # a folder's path relative to the raw root, one name per level


@dataclass(frozen=True, order=True)
class SequenceKey:
    """Where a sequence goes: `out/<id>/<type>/<view>/<view>.pkl`."""

    id: str
    type: str
    view: str

    def __str__(self) -> str:
        return f"{self.id}/{self.type}/{self.view}"


IGNORED = "ignored"  # an assignment: the folder is known and deliberately left out
Partition = dict[str, list[str]]  # TRAIN_SET, TEST_SET (and PROBE_SET) id lists


@dataclass(frozen=True)
class Layout:
    """One dataset's shipped tree, and its partition rules.

    Attributes:
        name: the `layout=` value.
        expected: the shipped tree, as shown in messages.
        pretreat: whether frames go through the pretreatment (False: shipped already aligned).
        assign: sequence folders -> their key, `IGNORED`, or None (not where a sequence can be).
        ignore_file: names of PNG files that are not frames (counted, never reported).
        split: the partition the dataset defines itself, from the keys found; None: the split
            is published apart from the tree.
        published_split: where that published split comes from (shown when none is given).
        needs_probe_set: a given partition must list the probe sequences (`PROBE_SET`).
        test_only_ids: ids that, when on disk, a given partition must list in TEST_SET.
    """

    name: str
    expected: str
    pretreat: bool
    assign: Callable[[Sequence[Folder]], dict[Folder, SequenceKey | str | None]]
    ignore_file: Callable[[str], bool] = lambda name: False
    split: Callable[[Sequence[SequenceKey]], Partition] | None = None
    published_split: str = ""
    needs_probe_set: bool = False
    test_only_ids: tuple[str, ...] = ()

    def check_partition(self, partition: dict, ids_on_disk: set[str], path: Path) -> None:
        """Raise a DatasetLayoutError naming the fix when the partition at `path` lacks what
        this dataset needs."""
        if self.needs_probe_set and PROBE_SET not in partition:
            raise DatasetLayoutError(
                f"partition={path}: layout={self.name} needs PROBE_SET (the probe sequences, "
                "'id-type-view'); use the partition file published with the dataset"
            )
        for id_ in self.test_only_ids:
            if id_ in ids_on_disk and id_ not in partition["TEST_SET"]:
                raise DatasetLayoutError(
                    f'partition={path}: the {self.name} id "{id_}" must be in TEST_SET; add '
                    f'"{id_}" to it'
                )


def _by_depth(
    depth: int, key: Callable[[Folder], SequenceKey | None]
) -> Callable[[Sequence[Folder]], dict[Folder, SequenceKey | str | None]]:
    """A layout where every sequence folder sits `depth` levels below the root."""

    def assign(folders: Sequence[Folder]) -> dict[Folder, SequenceKey | str | None]:
        return {folder: key(folder) if len(folder) == depth else None for folder in folders}

    return assign


_OUMVLP_FOLDER = re.compile(r"Silhouette_(?P<view>\d+)-(?P<seq>\d+)")


def _oumvlp_key(folder: Folder) -> SequenceKey | None:
    match = _OUMVLP_FOLDER.fullmatch(folder[0])
    if match is None:
        return None
    return SequenceKey(folder[1], match["seq"], match["view"])


GREW_TRAIN_SUFFIX = "train"  # GREW numbers its train and test ids separately, both from 00001
GREW_TRAIN_TYPE = "00"
GREW_PROBE_ID = "probe"
GREW_PROBE_TYPE = "03"
_GREW_DISTRACTORS = ("distractor", "distractors")


def _casiab_split(keys: Sequence[SequenceKey]) -> Partition:
    """CASIA-B's split, whatever part of the tree is there: train 001..074, test 075..124."""
    return {
        "TRAIN_SET": [f"{i:03d}" for i in range(1, 75)],
        "TEST_SET": [f"{i:03d}" for i in range(75, 125)],
    }


def _grew_split(keys: Sequence[SequenceKey]) -> Partition:
    """GREW's split from its tree: the `<id>train` ids train, the test ids and the probes test."""
    ids = sorted({key.id for key in keys})
    train = [i for i in ids if i.endswith(GREW_TRAIN_SUFFIX)]
    test = [i for i in ids if not i.endswith(GREW_TRAIN_SUFFIX) and i != GREW_PROBE_ID]
    probe = [GREW_PROBE_ID] if GREW_PROBE_ID in ids else []
    return {"TRAIN_SET": train, "TEST_SET": test + probe}


def _grew_assign(folders: Sequence[Folder]) -> dict[Folder, SequenceKey | str | None]:
    assigned: dict[Folder, SequenceKey | str | None] = {}
    gallery: dict[str, list[Folder]] = defaultdict(list)
    for folder in folders:
        if folder and folder[0] in _GREW_DISTRACTORS:
            assigned[folder] = IGNORED
        elif len(folder) == 3 and folder[0] == "train":
            assigned[folder] = SequenceKey(
                folder[1] + GREW_TRAIN_SUFFIX, GREW_TRAIN_TYPE, folder[2]
            )
        elif len(folder) == 3 and folder[:2] == ("test", "probe"):
            assigned[folder] = SequenceKey(GREW_PROBE_ID, GREW_PROBE_TYPE, folder[2])
        elif len(folder) == 4 and folder[:2] == ("test", "gallery"):
            gallery[folder[2]].append(folder)
        else:
            assigned[folder] = None
    for subject, sequences in gallery.items():
        for number, folder in enumerate(sorted(sequences), start=1):
            assigned[folder] = SequenceKey(subject, f"{number:02d}", folder[3])
    return assigned


LAYOUTS: dict[str, Layout] = {
    "casiab": Layout(
        name="casiab",
        expected="raw/<id>/<type>/<view>/*.png (e.g. raw/001/nm-01/090/001-nm-01-090-001.png)",
        pretreat=True,
        assign=_by_depth(3, lambda f: SequenceKey(*f)),
        split=_casiab_split,
    ),
    "oumvlp": Layout(
        name="oumvlp",
        expected=(
            "raw/Silhouette_<view>-<seq>/<id>/*.png (e.g. raw/Silhouette_000-00/00001/0001.png)"
        ),
        pretreat=True,
        assign=_by_depth(2, _oumvlp_key),
        published_split=(
            "OU-MVLP's split (5,153 training and 5,154 test ids) is not part of the silhouette "
            "tree: rerun with partition=PATH, a JSON with TRAIN_SET and TEST_SET built from the "
            "id lists distributed with OU-MVLP (OU-ISIR), e.g. OpenGait's "
            "datasets/OUMVLP/OUMVLP.json"
        ),
    ),
    "gait3d": Layout(
        name="gait3d",
        expected=(
            "raw = Gait3D's 2D_Silhouettes folder: raw/<id>/<camid..._videoid...>/<seqN>/*.png "
            "(e.g. raw/0000/camid0_videoid2/seq0/human_crop_f11627.png)"
        ),
        pretreat=True,
        assign=_by_depth(3, lambda f: SequenceKey(*f)),
        published_split=(
            "Gait3D's split (3,000 training ids, 1,000 test ids and the PROBE_SET sequences) is "
            "not part of the silhouette tree: rerun with partition=PATH, the Gait3D.json "
            "published with the dataset (Gait3D-Benchmark; also OpenGait's "
            "datasets/Gait3D/Gait3D.json)"
        ),
        needs_probe_set=True,
    ),
    "grew": Layout(
        name="grew",
        expected=(
            "raw/train/<id>/<seq>/*.png, raw/test/gallery/<id>/<seq>/*.png and "
            "raw/test/probe/<seq>/*.png (e.g. raw/train/00001/4XPn5Z28/00001.png)"
        ),
        pretreat=False,
        assign=_grew_assign,
        ignore_file=lambda name: name.lower().endswith("_gei.png"),
        split=_grew_split,
        test_only_ids=(GREW_PROBE_ID,),
    ),
}


def get_layout(name: str) -> Layout:
    """The layout called `name`, or an error listing the known ones."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ValueError(f"layout={name!r} is unknown; use one of {', '.join(LAYOUTS)}") from None
