"""dicecli: score segmentation masks with hard Dice, per class, honestly.

The public API, imported lazily so ``dice --help`` stays fast:

- ``score_arrays(gt, pred, ...)``: Dice per class of two numpy arrays (dicecli.arrays);
- ``evaluate(gt_dir, pred_dir, ...)``: score folders or files (dicecli.run.evaluate).
"""

__version__ = "0.1.0"

__all__ = ["ClassScore", "Evaluation", "Settings", "evaluate", "score_arrays"]

_LAZY = {"score_arrays": "arrays", "ClassScore": "arrays", "evaluate": "run.evaluate", "Evaluation": "run.evaluate",
         "Settings": "settings"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'dicecli' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
