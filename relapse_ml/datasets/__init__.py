"""Public transplant cohorts (KMsurv ``bmt``, mstate ``ebmt4``, survival ``myeloid``) in the data contract.

Field mappings and what each adapter loses: docs/datasets.md.
"""

from relapse_ml.datasets.bmt import load_bmt
from relapse_ml.datasets.ebmt4 import load_ebmt4
from relapse_ml.datasets.myeloid import load_myeloid
from relapse_ml.datasets.registry import DATASETS, import_dataset, load_dataset

__all__ = ["DATASETS", "import_dataset", "load_bmt", "load_dataset", "load_ebmt4", "load_myeloid"]
