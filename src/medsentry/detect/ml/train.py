"""Train and evaluate the traffic-window classifier on CICIoMT2024 (reproducible, seeded).

    python -m medsentry.detect.ml.train [--data merged_sample.csv.gz] [--out DIR] [--docs DIR]

Steps, each chosen so the score means something:

1. Load the 39-feature rows; ``inf`` rates become a cap, the one blank value 0.
2. Keep only ``MODEL_FEATURES`` (``features.py`` says why ``Number``, ``IAT``, ``Tot sum``
   and the ``*_count`` columns go).
3. Drop exact duplicate rows (same features, same class): ~9% of the sample and more
   once the window-size columns are gone.
4. Group near-identical rows: every feature rounded to two significant digits gives a
   group key; a stratified *grouped* 80/20 split keeps each group on one side.
5. Purge the test side of rows that are near-identical to a training row on a second
   rounding grid shifted by half a step (two values just either side of a rounding
   boundary would otherwise be split apart). No test row has a training row equal to it
   after rounding, on either grid.
6. Fit a histogram gradient-boosting classifier (fixed hyper-parameters, class weights
   balanced) on the training side only; the test side is never looked at before scoring.
7. Score macro-F1 and per-class recall at 19 classes, and at 6 and 2 classes by mapping
   the 19-class predictions; write confusion-matrix images and a metadata file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import confusion_matrix, f1_score, recall_score
from sklearn.model_selection import StratifiedGroupKFold

from medsentry.config import corpus_dir
from medsentry.detect.ml.features import (
    CLASSES_6,
    CLASSES_19,
    DROPPED,
    MODEL_FEATURES,
    Dataset,
    load_dataset,
    to_2,
    to_6,
)

SEED = 2024
N_FOLDS = 5  # the test side is one fold: 20%
MODEL_DIR = Path(__file__).parent
MODEL_FILE = "ciciomt2024_hgb.joblib"
META_FILE = "ciciomt2024_hgb.json"
PAPER_19 = {"Random Forest": 0.551, "DNN": 0.522, "Logistic regression": 0.432}
HYPER = {
    "max_iter": 200,
    "learning_rate": 0.1,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 20,
    "l2_regularization": 0.0,
    "class_weight": "balanced",
    "early_stopping": False,
}


def default_data() -> Path:
    return corpus_dir() / "ids" / "ciciomt2024" / "merged_sample.csv.gz"


def _row_keys(M: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """An integer id per distinct row of ``M``."""
    rows = np.ascontiguousarray(M).view(np.dtype((np.void, 8 * M.shape[1]))).reshape(-1)
    _, inverse = np.unique(rows, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def round_significant(
    M: npt.NDArray[np.float64], digits: int = 2, shift: float = 0.0
) -> npt.NDArray[np.float64]:
    """Each value floored to ``digits`` significant digits on a grid moved by ``shift``
    of a step (0.5: half a step), so near-equal values share a key."""
    mag = np.floor(np.log10(np.where(M == 0, 1.0, np.abs(M))))
    scale = 10.0 ** (digits - 1 - mag)
    return np.where(M == 0, 0.0, (np.floor(M * scale + shift) - shift) / scale)


def deduplicate(F: npt.NDArray[np.float64], y: npt.NDArray[np.str_]) -> npt.NDArray[np.int64]:
    """Rows to keep: the first of every set of exact duplicates (features and class)."""
    _, y_codes = np.unique(y, return_inverse=True)
    keys = _row_keys(np.c_[F, y_codes.reshape(-1).astype(np.float64)])
    _, first = np.unique(keys, return_index=True)
    return np.sort(first).astype(np.int64)


class Split:
    """The grouped, purged train/test split (indices into the de-duplicated rows)."""

    def __init__(self, F: npt.NDArray[np.float64], y: npt.NDArray[np.str_], seed: int = SEED):
        groups = _row_keys(round_significant(F, 2, 0.0))
        shifted = _row_keys(round_significant(F, 2, 0.5))
        folds = StratifiedGroupKFold(n_splits=N_FOLDS, shuffle=True, random_state=seed)
        train, test = next(folds.split(F, y, groups))
        near = np.isin(shifted[test], shifted[train]) | np.isin(groups[test], groups[train])
        self.train = np.sort(train)
        self.test = np.sort(test[~near])
        self.purged = int(near.sum())
        self.groups = int(groups.max()) + 1


def prepare(data: Path) -> tuple[Dataset, npt.NDArray[np.float64], npt.NDArray[np.str_], Split]:
    """Load, select columns, de-duplicate and split; deterministic for a given file."""
    ds = load_dataset(data)
    F_all = ds.model_matrix()
    keep = deduplicate(F_all, ds.y)
    F, y = F_all[keep], ds.y[keep]
    return ds, F, y, Split(F, y)


def _scores(
    y_true: npt.NDArray[np.str_], y_pred: npt.NDArray[np.str_], labels: list[str]
) -> dict[str, Any]:
    recall = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        "macro_f1": round(float(f1_score(y_true, y_pred, labels=labels, average="macro")), 4),
        "accuracy": round(float(np.mean(y_true == y_pred)), 4),
        "recall": {label: round(float(r), 4) for label, r in zip(labels, recall, strict=True)},
        "support": {label: int(np.sum(y_true == label)) for label in labels},
    }


def evaluate(y_true: npt.NDArray[np.str_], y_pred: npt.NDArray[np.str_]) -> dict[str, Any]:
    six = sorted(set(CLASSES_6.values()))
    return {
        "19": _scores(y_true, y_pred, list(CLASSES_19)),
        "6": _scores(to_6(y_true), to_6(y_pred), six),
        "2": _scores(to_2(y_true), to_2(y_pred), ["Attack", "Benign"]),
    }


def plot_confusion(
    y_true: npt.NDArray[np.str_],
    y_pred: npt.NDArray[np.str_],
    labels: list[str],
    title: str,
    path: Path,
) -> None:
    """A row-normalised confusion matrix (each row: where that true class went)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = confusion_matrix(y_true, y_pred, labels=labels).astype(np.float64)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = 4 + 0.45 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if cm[i, j]:
                color = "white" if norm[i, j] > 0.5 else "black"
                ax.text(
                    j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=6, color=color
                )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def train(data: Path, out_dir: Path = MODEL_DIR, docs: Path | None = None) -> dict[str, Any]:
    """Train, evaluate on the held-out side, write the model, its metadata and plots."""
    started = time.perf_counter()
    ds, F, y, split = prepare(data)
    model = HistGradientBoostingClassifier(random_state=SEED, **HYPER)  # type: ignore[arg-type]
    model.fit(F[split.train], y[split.train])
    fit_s = time.perf_counter() - started
    pred = model.predict(F[split.test])
    metrics = evaluate(y[split.test], pred)
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    meta: dict[str, Any] = {
        "model": "HistGradientBoostingClassifier",
        "hyper_parameters": HYPER,
        "seed": SEED,
        "sklearn_version": sklearn.__version__,
        "features": list(MODEL_FEATURES),
        "dropped_columns": list(DROPPED),
        "classes": [str(c) for c in model.classes_],
        "dataset": {"file": data.name, "sha256": digest, "rows": len(ds.y)},
        "split": {
            "deduplicated_rows": len(y),
            "groups": split.groups,
            "train_rows": len(split.train),
            "test_rows": len(split.test),
            "test_rows_purged": split.purged,
            "method": "stratified grouped 5-fold (fold 0 as test), groups = rows equal "
            "after rounding to 2 significant digits; test rows near-identical to a "
            "training row on a half-step shifted grid removed",
        },
        "metrics": metrics,
        "paper_19_class_macro_f1": PAPER_19,
        "train_seconds": round(fit_s, 1),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out_dir / MODEL_FILE, compress=("xz", 6))
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    if docs is not None:
        six = sorted(set(CLASSES_6.values()))
        y_true = y[split.test]
        plot_confusion(
            y_true,
            pred,
            list(CLASSES_19),
            "CICIoMT2024, 19 classes (grouped split)",
            docs / "model_confusion_19.png",
        )
        plot_confusion(
            to_6(y_true), to_6(pred), six, "CICIoMT2024, 6 classes", docs / "model_confusion_6.png"
        )
        plot_confusion(
            to_2(y_true),
            to_2(pred),
            ["Attack", "Benign"],
            "CICIoMT2024, 2 classes",
            docs / "model_confusion_2.png",
        )
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="merged_sample.csv.gz")
    parser.add_argument("--out", type=Path, default=MODEL_DIR, help="where the model goes")
    parser.add_argument("--docs", type=Path, default=None, help="where the plots go")
    args = parser.parse_args(argv)
    meta = train(args.data or default_data(), args.out, args.docs)
    print(json.dumps({k: meta["metrics"][k]["macro_f1"] for k in ("19", "6", "2")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
