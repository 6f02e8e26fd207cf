"""The labeler on real-style MIMIC-CXR / CheXpert report sentences (written for these tests).

Each case: a report text and the labels it must get (observations not listed must be None,
except No Finding, which is checked only where given).
"""

from __future__ import annotations

import pytest

from driftalign.constants import OBSERVATIONS
from driftalign.labeling import label_reports

CASES: list[tuple[str, dict[str, int | None]]] = [
    # --- negation scope ends where a new clause or item starts ---
    ("No pneumothorax is seen and a small effusion persists.", {"Pneumothorax": 0, "Pleural Effusion": 1}),
    ("No pneumothorax and a small left effusion.", {"Pneumothorax": 0, "Pleural Effusion": 1}),
    ("No pleural effusion and pneumothorax.", {"Pleural Effusion": 0, "Pneumothorax": 0}),
    ("There is no pneumothorax or effusion seen and no consolidation.",
     {"Pneumothorax": 0, "Pleural Effusion": 0, "Consolidation": 0}),
    ("No effusion is identified, and there is no pneumothorax.", {"Pleural Effusion": 0, "Pneumothorax": 0}),
    # --- Atelectasis ---
    ("Bibasilar atelectasis.", {"Atelectasis": 1}),
    ("Mild left basilar atelectasis is again seen.", {"Atelectasis": 1}),
    ("Plate-like atelectasis at the right base.", {"Atelectasis": 1}),
    ("Left lower lobe collapse.", {"Atelectasis": 1}),
    ("Left lower lobe opacity most likely represents atelectasis.", {"Lung Opacity": 1, "Atelectasis": -1}),
    ("No atelectasis.", {"Atelectasis": 0}),
    # --- Cardiomegaly ---
    ("Moderate cardiomegaly is stable.", {"Cardiomegaly": 1}),
    ("The heart is mildly enlarged.", {"Cardiomegaly": 1}),
    ("Enlarged cardiac silhouette.", {"Cardiomegaly": 1}),
    ("Heart size is normal.", {"Cardiomegaly": 0}),
    ("The cardiac silhouette is within normal limits.", {"Cardiomegaly": 0}),
    ("Normal heart size.", {"Cardiomegaly": 0}),
    ("The heart is not enlarged.", {"Cardiomegaly": 0}),
    ("Heart size is stable.", {"Cardiomegaly": -1}),
    ("Borderline heart size.", {"Cardiomegaly": -1}),
    ("No cardiomegaly.", {"Cardiomegaly": 0}),
    ("Retrocardiac opacity projects over the heart.", {"Lung Opacity": 1}),
    # --- Consolidation ---
    ("Right lower lobe consolidation.", {"Consolidation": 1}),
    ("No focal consolidation.", {"Consolidation": 0}),
    ("Patchy consolidation in the left upper lobe concerning for pneumonia.", {"Consolidation": 1, "Pneumonia": -1}),
    ("Consolidation cannot be excluded.", {"Consolidation": -1}),
    # --- Edema ---
    ("Mild pulmonary edema.", {"Edema": 1}),
    ("Pulmonary vascular congestion and mild interstitial edema.", {"Edema": 1}),
    ("There is mild pulmonary edema, improved from prior.", {"Edema": 1}),
    ("Moderate interstitial edema, slightly worse.", {"Edema": 1}),
    ("No pulmonary edema.", {"Edema": 0}),
    ("Mild pulmonary vascular congestion.", {"Edema": -1}),
    ("No vascular congestion or edema.", {"Edema": 0}),
    ("Findings consistent with congestive heart failure.", {"Edema": 1, "Cardiomegaly": -1}),
    ("Pulmonary edema has resolved.", {"Edema": 0}),
    # --- Enlarged Cardiomediastinum ---
    ("The mediastinum is widened.", {"Enlarged Cardiomediastinum": 1}),
    ("Widened mediastinum.", {"Enlarged Cardiomediastinum": 1}),
    ("Mediastinal and hilar contours are unremarkable.", {"Enlarged Cardiomediastinum": 0}),
    ("The cardiomediastinal silhouette is within normal limits.", {"Enlarged Cardiomediastinum": 0}),
    ("Cardiomediastinal silhouette is stable.", {"Enlarged Cardiomediastinum": -1}),
    # --- Fracture ---
    ("Acute fracture of the left seventh rib.", {"Fracture": 1}),
    ("Healed left rib fractures are noted.", {"Fracture": 1}),
    ("Old healed right rib fractures.", {"Fracture": 1}),
    ("No displaced fracture is seen.", {"Fracture": 0}),
    ("No acute fracture.", {"Fracture": 0}),
    # --- Lung Lesion ---
    ("A 1.5 cm nodule in the right upper lobe.", {"Lung Lesion": 1}),
    ("Left hilar mass.", {"Lung Lesion": 1}),
    ("No suspicious pulmonary nodules or masses.", {"Lung Lesion": 0}),
    ("Possible nodular opacity in the left midlung.", {"Lung Lesion": -1, "Lung Opacity": -1}),
    ("Calcified nodule in the left lower lobe compatible with prior granulomatous disease.", {"Lung Lesion": None}),
    # --- Lung Opacity ---
    ("Right basilar opacity.", {"Lung Opacity": 1}),
    ("Opacity in the right lower lobe is concerning for aspiration or pneumonia.", {"Lung Opacity": 1, "Pneumonia": -1}),
    ("Patchy airspace disease in the left lung.", {"Lung Opacity": 1}),
    ("Bilateral infiltrates.", {"Lung Opacity": 1}),
    ("Hazy opacity at the right base.", {"Lung Opacity": 1}),
    ("The lungs are clear without focal opacity.", {"Lung Opacity": 0}),
    # --- Pleural Effusion ---
    ("Small left pleural effusion.", {"Pleural Effusion": 1}),
    ("Moderate bilateral pleural effusions, right greater than left.", {"Pleural Effusion": 1}),
    ("Blunting of the left costophrenic angle.", {"Pleural Effusion": -1}),
    ("Heart size may be mildly enlarged.", {"Cardiomegaly": -1}),
    ("The mediastinum is not widened.", {"Enlarged Cardiomediastinum": 0}),
    ("No pleural effusion or pneumothorax.", {"Pleural Effusion": 0, "Pneumothorax": 0}),
    ("Possible trace right pleural effusion.", {"Pleural Effusion": -1}),
    ("The right effusion has resolved.", {"Pleural Effusion": 0}),
    ("No pericardial effusion.", {"Pleural Effusion": None}),
    # --- Pleural Other ---
    ("Right apical pleural thickening.", {"Pleural Other": 1}),
    ("Calcified pleural plaques.", {"Pleural Other": 1}),
    ("No pleural thickening.", {"Pleural Other": 0}),
    # --- Pneumonia ---
    ("Right lower lobe pneumonia.", {"Pneumonia": 1}),
    ("Findings may represent pneumonia.", {"Pneumonia": -1}),
    ("Opacity suggestive of infection.", {"Lung Opacity": 1, "Pneumonia": -1}),
    ("No evidence of pneumonia.", {"Pneumonia": 0}),
    ("Atelectasis versus pneumonia.", {"Atelectasis": -1, "Pneumonia": -1}),
    ("Pneumonia is likely.", {"Pneumonia": -1}),
    ("Left basilar opacity is likely atelectasis, although pneumonia cannot be excluded.",
     {"Lung Opacity": 1, "Atelectasis": -1, "Pneumonia": -1}),
    ("Patchy opacities in the lung bases likely reflect atelectasis.", {"Lung Opacity": 1, "Atelectasis": -1}),
    ("Left retrocardiac opacity, which may represent atelectasis or consolidation.",
     {"Lung Opacity": 1, "Atelectasis": -1, "Consolidation": -1}),
    ("Aspiration or pneumonia cannot be excluded.", {"Pneumonia": -1}),
    # --- Pneumothorax ---
    ("Small right apical pneumothorax.", {"Pneumothorax": 1}),
    ("No pneumothorax.", {"Pneumothorax": 0}),
    ("Evaluation for pneumothorax.", {"Pneumothorax": -1}),
    ("Interval placement of a left-sided chest tube with decrease in size of the left pneumothorax.",
     {"Pneumothorax": 1, "Support Devices": 1}),
    ("Pneumothorax is not seen.", {"Pneumothorax": 0}),
    ("No evidence of pneumothorax following chest tube removal.", {"Pneumothorax": 0, "Support Devices": 0}),
    ("Tiny left apical pneumothorax is unchanged.", {"Pneumothorax": 1}),
    # --- Support Devices ---
    ("Endotracheal tube terminates 4 cm above the carina.", {"Support Devices": 1}),
    ("The endotracheal tube has been removed.", {"Support Devices": 0}),
    ("Right-sided Port-A-Cath terminates in the distal SVC.", {"Support Devices": 1}),
    ("ET tube tip is 5 cm above the carina. NG tube tip is in the stomach.", {"Support Devices": 1}),
    ("Left-sided pacemaker with leads terminating in the right atrium and right ventricle.", {"Support Devices": 1}),
    ("Pacemaker leads terminate in the right atrium and right ventricle.", {"Support Devices": 1}),
    ("Right IJ central venous catheter tip in the mid SVC.", {"Support Devices": 1}),
    ("Nasogastric tube courses below the diaphragm.", {"Support Devices": 1}),
    ("Status post median sternotomy.", {"Support Devices": 1}),
    ("Intact sternotomy wires.", {"Support Devices": 1}),
    ("Interval removal of the endotracheal tube.", {"Support Devices": 0}),
    ("Right PICC line ends in the low SVC.", {"Support Devices": 1}),
]


@pytest.mark.parametrize("text,expected", CASES, ids=[c[0][:48] for c in CASES])
def test_sentence_labels(text: str, expected: dict[str, int | None]) -> None:
    labels = label_reports([text])[0]
    assert set(labels) == set(OBSERVATIONS)
    got = {name: labels[name] for name in expected}
    assert got == expected
    unexpected = {k: v for k, v in labels.items() if k not in expected and k != "No Finding" and v is not None}
    assert unexpected == {}, f"unexpected labels {unexpected}"
