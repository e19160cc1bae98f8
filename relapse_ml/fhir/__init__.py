"""HL7 FHIR R4 in and out (`fhir.resources`, R4B models; imported only by FHIR commands).

`read_bundle_file` turns a Bundle into the data contract's single-patient document (days
since the transplant; no date kept); `document_to_bundle` goes the other way;
`risk_assessment` writes a score as a RiskAssessment. The code map is ``codes.yaml``
(`load_code_map`, extended by ``--fhir-map FILE``). See docs/fhir.md.
"""

from relapse_ml.fhir.codemap import CodeMap, load_code_map
from relapse_ml.fhir.read import FHIRError, bundle_to_document, read_bundle_file
from relapse_ml.fhir.write import document_to_bundle, risk_assessment

__all__ = ["CodeMap", "FHIRError", "bundle_to_document", "document_to_bundle",
           "load_code_map", "read_bundle_file", "risk_assessment"]
