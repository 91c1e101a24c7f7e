"""dicecli: score segmentation masks with hard Dice, per class, honestly."""

__version__ = "0.1.0"
