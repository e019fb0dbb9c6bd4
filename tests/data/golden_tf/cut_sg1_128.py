"""Cut the 128 px StyleGAN1 golden files down to what tests/test_tf_import.py reads.

Run from the repository root: python tests/data/golden_tf/cut_sg1_128.py /path/to/reference/golden_tf
Keeps Gs and D variables (G, a training copy that differs from Gs, is dropped: the tests put Gs's values
in the test pickle's G slot) and the reference outputs other than the duplicate batch-4 and from-w images.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

KEEP_REF = (
    "seeds",
    "z",
    "w_psi1",
    "img_psi1",
    "img_psi07",
    "png_psi1",
    "png_psi07",
    "d_in",
    "d_out",
    "d_out_single",
    "meta_json",
)


def main(src: Path, dst: Path) -> None:
    w = np.load(src / "sg1_128_weights.npz")
    kept = {k: w[k] for k in w.files if k.startswith(("Gs/", "D/"))}
    np.savez_compressed(dst / "sg1_128_weights_gs_d.npz", **kept)
    r = np.load(src / "sg1_128_ref.npz")
    np.savez_compressed(dst / "sg1_128_ref_cut.npz", **{k: r[k] for k in KEEP_REF})


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).resolve().parent)
