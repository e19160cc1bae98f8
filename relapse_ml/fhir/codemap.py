"""The FHIR code map (``codes.yaml``, plus a hospital's ``--fhir-map FILE``) as lookups."""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path

from relapse_ml.errors import RelapseMLError

DEFAULT_MAP = Path(__file__).with_name("codes.yaml")
SECTIONS = ("transplant", "markers", "samples", "conditions", "grades", "diagnoses",
            "medications", "patient_fields", "event_observations")
Code = tuple[str, str]  # (system, code)


@dataclass
class CodeMap:
    """Lookups from a FHIR coding (system, code) to the contract's names."""

    systems: dict[str, str]
    transplant: set[Code] = field(default_factory=set)
    markers: dict[Code, str] = field(default_factory=dict)
    samples: dict[Code, str] = field(default_factory=dict)
    conditions: dict[Code, str] = field(default_factory=dict)
    grades: dict[Code, int] = field(default_factory=dict)
    diagnoses: dict[Code, str] = field(default_factory=dict)
    medications: dict[Code, str] = field(default_factory=dict)
    patient_fields: dict[Code, str] = field(default_factory=dict)
    event_observations: dict[Code, str] = field(default_factory=dict)
    first: dict[tuple[str, str], dict] = field(default_factory=dict)  # (section, name) -> coding

    @property
    def local(self) -> str:
        return self.systems["LOCAL"]

    def coding(self, section: str, name: str) -> dict:
        """The coding written for ``name`` (the first listed; the local code otherwise)."""
        return dict(self.first.get((section, name)) or {"system": self.local, "code": name})


def load_code_map(extra: str | Path | None = None) -> CodeMap:
    """The built-in map, with the lists of ``extra`` (a hospital's YAML) appended."""
    docs = [copy.deepcopy(_default_map())]
    if extra is not None:
        docs.append(_read(Path(extra)))
    systems: dict[str, str] = {}
    for d in docs:
        systems.update({str(k): str(v) for k, v in (d.get("systems") or {}).items()})
    cm = CodeMap(systems=systems)
    for label, d in zip((DEFAULT_MAP, extra), docs, strict=False):
        unknown = [k for k in d if k not in (*SECTIONS, "systems")]
        if unknown:
            raise RelapseMLError(
                f"{label}: unknown section '{unknown[0]}' in the FHIR code map; allowed: "
                + ", ".join(("systems", *SECTIONS))
            )
        for section in SECTIONS:
            _add(cm, section, d.get(section), label)
    _add_contract_names(cm)
    return cm


@functools.cache
def _default_map() -> dict:
    """The built-in map's YAML, parsed once per process (not to be changed: copy it)."""
    return _read(DEFAULT_MAP)


def _read(path: Path) -> dict:
    import yaml

    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, when built with it
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except FileNotFoundError:
        raise RelapseMLError(f"{path}: FHIR code map not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise RelapseMLError(f"{path}: not a readable YAML code map ({first})") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise RelapseMLError(f"{path}: the FHIR code map must be a YAML mapping of sections")
    return doc


def _add(cm: CodeMap, section: str, entries, label) -> None:
    if not entries:
        return
    if section in ("transplant", "grades"):
        groups = {None: entries}
    elif isinstance(entries, dict):
        groups = entries
    else:
        raise RelapseMLError(f"{label}: section '{section}' must map names to lists of codings")
    for name, codings in groups.items():
        if not isinstance(codings, list):
            raise RelapseMLError(f"{label}: {section}.{name} must be a list of codings")
        for c in codings:
            if not isinstance(c, dict) or "system" not in c or "code" not in c:
                raise RelapseMLError(
                    f"{label}: every coding in '{section}' needs a system and a code, got {c!r}"
                )
            system = cm.systems.get(str(c["system"]), str(c["system"]))
            key = (system, str(c["code"]))
            if section == "transplant":
                cm.transplant.add(key)
            elif section == "grades":
                if not isinstance(c.get("grade"), int):
                    raise RelapseMLError(f"{label}: grades entry {c!r} needs an integer grade")
                cm.grades[key] = c["grade"]
            else:
                getattr(cm, section)[key] = str(name)
                cm.first.setdefault((section, str(name)), {"system": system, "code": key[1]})


def _add_contract_names(cm: CodeMap) -> None:
    """Every contract column, marker, event and diagnosis also by its name in LOCAL."""
    from relapse_ml.data import contract as c

    columns = (*c.PATIENT_REQUIRED, *c.PATIENT_OPTIONAL, *c.SCREENING_COLUMNS)
    for col in columns:
        if col not in ("patient_id", "sex"):
            cm.patient_fields.setdefault((cm.local, col), col)
    for marker in c.MARKERS:
        cm.markers.setdefault((cm.local, marker), marker)
    for event in c.EVENTS:
        if event not in ("death",):
            cm.event_observations.setdefault((cm.local, event), event)


def codings(concept) -> list[Code]:
    """The (system, code) pairs of a CodeableConcept (a parsed fhir.resources model)."""
    if concept is None:
        return []
    return [(str(x.system or ""), str(x.code or "")) for x in (concept.coding or [])]


def first_match(concept, table: dict) -> tuple[str | None, list[Code]]:
    """The mapped name of the first listed coding of ``concept``, and all its codings."""
    pairs = codings(concept)
    for p in pairs:
        if p in table:
            return table[p], pairs
    return None, pairs
