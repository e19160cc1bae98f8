"""relapse-ml: relapse prediction and sorafenib-benefit estimation after allo-HSCT."""

__version__ = "0.1.0"
