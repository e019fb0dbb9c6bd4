"""Turn a folder or zip of images into a prepared dataset (see `core.data.layout` for the format and why).

Preparation is done once: decode, fix orientation and colour mode, crop/resize to a power-of-two square,
and write uint8 arrays that training then memory-maps at zero cost. Unreadable files are skipped and
reported in a single warning line rather than aborting a 70k-image job for one bad file.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.data.decode import TRANSFORMS, ImageDecodeError, decode_image, open_image
from core.data.layout import (
    IMAGES_FILE,
    LABELS_FILE,
    DatasetExistsError,
    NpyStreamWriter,
    commit,
    new_temp_dir,
    write_meta,
)
from core.data.progress import make_progress
from core.data.sources import LABELS_FILE as LABELS_JSON
from core.data.sources import ImageSource, open_source
from core.errors import SGError, os_error

MIN_RESOLUTION = 4


@dataclass
class PrepareResult:
    """What was written, for summaries and tests."""

    path: Path
    count: int
    skipped: int
    resolution: int
    channels: int
    num_classes: int
    skipped_examples: list[str] = field(default_factory=list)


def check_resolution(resolution: int) -> int:
    """Power of two >= 4, the only sizes a StyleGAN synthesis network produces."""
    r = int(resolution)
    if r < MIN_RESOLUTION or r & (r - 1):
        raise SGError(
            f"resolution must be a power of two >= {MIN_RESOLUTION} (4, 8, ..., 1024), got {resolution}"
        )
    return r


def check_options(transform: str, channels: int) -> None:
    if transform not in TRANSFORMS:
        raise SGError(f"unknown transform {transform!r}; choose one of: {', '.join(TRANSFORMS)}")
    if channels not in (1, 3):
        raise SGError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")


def infer_resolution(source: ImageSource) -> int:
    """Resolution of the first readable image when it is already a power-of-two square; else ask the user."""
    for name in source.names:
        try:
            img = open_image(source.read(name))
        except (ImageDecodeError, OSError):
            continue
        w, h = img.size
        if w == h and w >= MIN_RESOLUTION and not w & (w - 1):
            return w
        raise SGError(
            f"{source.path}: images are {w}x{h}, not a power-of-two square; pass a resolution (e.g. 256)"
        )
    raise SGError(f"{source.path}: no readable images found")


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _run_decoding(
    source: ImageSource,
    names: list[str],
    decode: Callable[[bytes], np.ndarray],
    limit: int | None,
    workers: int,
    on_done: Callable[[], None],
) -> Iterator[tuple[str, np.ndarray | str]]:
    """Yields (name, array or error message) in source order; decodes ahead in a thread pool."""

    def job(name: str) -> np.ndarray | str:
        try:
            return decode(source.read(name))
        except (ImageDecodeError, OSError) as exc:
            return str(exc)

    window = max(4, 8 * workers)
    queue: deque[tuple[str, Future]] = deque()
    todo = iter(names)
    kept = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:

        def submit(k: int) -> None:
            for name in todo:
                queue.append((name, pool.submit(job, name)))
                k -= 1
                if k <= 0:
                    break

        submit(window)
        while queue:
            name, fut = queue.popleft()
            result = fut.result()
            on_done()
            if isinstance(result, np.ndarray):
                kept += 1
            yield name, result
            if limit is not None and kept >= limit:
                for _, f in queue:
                    f.cancel()
                return
            submit(1)


def _decode_into(
    writer: NpyStreamWriter,
    src: ImageSource,
    decode: Callable[[bytes], np.ndarray],
    label_map: dict[str, int] | None,
    max_images: int | None,
    workers: int,
    progress: bool,
) -> tuple[list[int], list[str]]:
    """Decode the source's images into ``writer`` under one bar; returns the labels of the written images
    and one 'name: reason' per unreadable file. Every image needs a label when the source has labels."""
    names = src.names
    total = len(names) if max_images is None else min(len(names), max_images)
    labels: list[int] = []
    skipped: list[str] = []
    missing_labels: list[str] = []
    with make_progress(progress) as bar:
        task = bar.add_task(f"preparing {src.path.name}", total=total)

        def advance() -> None:
            bar.advance(task)

        for name, result in _run_decoding(src, names, decode, max_images, workers, advance):
            if isinstance(result, str):
                skipped.append(f"{name}: {result}")
                if total < len(names):  # a skipped file means one more to read
                    total += 1
                    bar.update(task, total=total)
                continue
            if label_map is not None:
                if name not in label_map:
                    missing_labels.append(name)
                    continue
                labels.append(label_map[name])
            writer.append(result)
    if missing_labels:
        raise SGError(
            f"{src.path}: {LABELS_JSON} has no label for {len(missing_labels)} image(s), "
            f"e.g. {missing_labels[0]!r}"
        )
    return labels, skipped


def _check_decoded(source: Path, count: int, skipped: list[str], min_images: int) -> None:
    """One warning line for the unreadable files; too few usable images is an error."""
    if skipped:
        _warn(f"skipped {len(skipped)} unreadable image(s) of {count + len(skipped)} (first: {skipped[0]})")
    if count < max(1, min_images):
        raise SGError(
            f"{source}: only {count} usable image(s) (need at least {max(1, min_images)}; "
            f"{len(skipped)} unreadable)"
        )


def prepare_dataset(
    source: str | os.PathLike,
    out: str | os.PathLike,
    resolution: int | None,
    *,
    transform: str = "center-crop",
    channels: int = 3,
    max_images: int | None = None,
    min_images: int = 1,
    overwrite: bool = False,
    progress: bool = True,
    workers: int | None = None,
) -> PrepareResult:
    """Prepare `source` (folder or zip) into directory `out`. resolution None: use the images' own size.

    Raises SGError for a missing source, bad options, too few usable images, or an existing `out`
    (unless overwrite). Skipped files are counted in one warning line on stderr.
    Long because one try block must hold every write into the temp folder (a failure leaves nothing).
    """
    check_options(transform, channels)
    if max_images is not None and max_images < 1:
        raise SGError(f"max_images must be at least 1, got {max_images}")
    out = Path(out).expanduser()
    if out.exists() and not overwrite:
        raise DatasetExistsError(f"output already exists: {out} (use --force to overwrite)")
    workers = workers or min(8, os.cpu_count() or 1)

    with open_source(source) as src:
        if not src.names:
            raise SGError(f"{src.path}: no PNG/JPEG/WebP images found")
        res = check_resolution(resolution) if resolution is not None else infer_resolution(src)
        label_map = src.labels()

        tmp = new_temp_dir(out)
        try:
            writer = NpyStreamWriter(tmp / IMAGES_FILE, (channels, res, res))

            def decode(data: bytes) -> np.ndarray:
                return decode_image(data, res, transform, channels)

            try:
                labels, skipped = _decode_into(writer, src, decode, label_map, max_images, workers, progress)
            finally:
                count = writer.close()
            _check_decoded(src.path, count, skipped, min_images)
            num_classes = 0
            if label_map is not None:
                np.save(tmp / LABELS_FILE, np.asarray(labels, dtype=np.int64))
                num_classes = max(labels) + 1
            write_meta(
                tmp,
                {
                    "count": count,
                    "resolution": res,
                    "channels": channels,
                    "num_classes": num_classes,
                    "source": str(src.path.resolve()),
                    "transform": transform,
                    "max_images": max_images,
                    "skipped": len(skipped),
                    "skipped_examples": skipped[:20],
                },
            )
            commit(tmp, out, overwrite=overwrite)
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, OSError):  # reads are caught per image: this is the output failing
                raise os_error(exc, out, "cannot write the dataset") from None
            raise
    return PrepareResult(
        path=out,
        count=count,
        skipped=len(skipped),
        resolution=res,
        channels=channels,
        num_classes=num_classes,
        skipped_examples=skipped[:20],
    )
