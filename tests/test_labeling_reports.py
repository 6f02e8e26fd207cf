"""Labeler: report-level logic (precedence, No Finding, lists, XXXX), mention spans and sides."""

from __future__ import annotations

from driftalign.constants import OBSERVATIONS
from driftalign.labeling import extract_mentions, label_report, label_reports, merge_value


def _nonnull(labels: dict[str, int | None]) -> dict[str, int]:
    return {k: v for k, v in labels.items() if v is not None}


def test_label_reports_returns_one_dict_per_text_over_all_observations() -> None:
    out = label_reports(["No pneumothorax.", "", "Cardiomegaly."])
    assert len(out) == 3
    assert all(list(d) == list(OBSERVATIONS) for d in out)


def test_blank_text_mentions_nothing() -> None:
    assert _nonnull(label_report("")) == {}
    assert _nonnull(label_report("   \n ")) == {}


def test_normal_study_phrase_gives_no_finding() -> None:
    assert _nonnull(label_report("No acute cardiopulmonary process.")) == {"No Finding": 1}


def test_normal_full_report() -> None:
    text = ("FINDINGS: PA and lateral views of the chest. The lungs are clear. No focal consolidation, "
            "pleural effusion, or pneumothorax. Heart size is normal. Mediastinal contours are normal.\n\n"
            "IMPRESSION: No acute cardiopulmonary process.")
    assert _nonnull(label_report(text)) == {
        "Cardiomegaly": 0, "Consolidation": 0, "Enlarged Cardiomediastinum": 0,
        "No Finding": 1, "Pleural Effusion": 0, "Pneumothorax": 0,
    }


def test_support_devices_do_not_prevent_no_finding() -> None:
    labels = label_report("Endotracheal tube in standard position. No acute cardiopulmonary process.")
    assert labels["Support Devices"] == 1 and labels["No Finding"] == 1


def test_uncertain_finding_prevents_no_finding() -> None:
    labels = label_report("No acute cardiopulmonary process. Possible trace left effusion.")
    assert labels["Pleural Effusion"] == -1 and labels["No Finding"] is None


def test_other_abnormality_outside_the_14_prevents_no_finding() -> None:
    labels = label_report("Emphysema. No pneumothorax.")
    assert labels["No Finding"] is None and labels["Pneumothorax"] == 0
    assert label_report("No emphysema. No pneumothorax.")["No Finding"] == 1


def test_positive_beats_uncertain_beats_negative_within_a_report() -> None:
    assert label_report("No pleural effusion. Small right pleural effusion.")["Pleural Effusion"] == 1
    assert label_report("Possible pneumonia. Right lower lobe pneumonia.")["Pneumonia"] == 1
    assert label_report("No pneumonia on the left. Pneumonia cannot be excluded on the right.")["Pneumonia"] == -1
    assert merge_value(0, -1) == -1 and merge_value(1, -1) == 1 and merge_value(None, 0) == 0


def test_list_negation_covers_every_item() -> None:
    labels = label_report("No focal consolidation, effusion, or pneumothorax.")
    assert (labels["Consolidation"], labels["Pleural Effusion"], labels["Pneumothorax"]) == (0, 0, 0)
    labels = label_report("No pneumothorax or effusion.")
    assert (labels["Pneumothorax"], labels["Pleural Effusion"]) == (0, 0)
    labels = label_report("The lungs are clear without consolidation, edema or effusion.")
    assert (labels["Consolidation"], labels["Edema"], labels["Pleural Effusion"]) == (0, 0, 0)


def test_negation_scope_ends_at_but_and_however() -> None:
    labels = label_report("No pneumothorax, but there is a small left pleural effusion.")
    assert labels["Pneumothorax"] == 0 and labels["Pleural Effusion"] == 1
    labels = label_report("No consolidation; however, mild pulmonary edema is present.")
    assert labels["Consolidation"] == 0 and labels["Edema"] == 1


def test_negation_does_not_cross_a_comma_before_an_asserted_finding() -> None:
    labels = label_report("No pneumothorax, small left pleural effusion.")
    assert labels["Pneumothorax"] == 0 and labels["Pleural Effusion"] == 1


def test_negation_stops_at_an_uncertainty_trigger() -> None:
    labels = label_report("No effusion, possible right lower lobe pneumonia.")
    assert labels["Pleural Effusion"] == 0 and labels["Pneumonia"] == -1


def test_uncertainty_terms() -> None:
    for text in ("Pneumonia cannot be excluded.", "Opacity may represent pneumonia.", "Possible pneumonia.",
                 "Likely pneumonia.", "Findings suggestive of pneumonia.", "Atelectasis versus pneumonia.",
                 "Cannot exclude pneumonia.", "Pneumonia is not excluded.", "Concerning for pneumonia."):
        assert label_report(text)["Pneumonia"] == -1, text


def test_negation_terms() -> None:
    for text in ("No pneumonia.", "Without pneumonia.", "Free of pneumonia.", "Negative for pneumonia.",
                 "Pneumonia has resolved.", "Interval resolution of pneumonia.", "Pneumonia is no longer seen.",
                 "No evidence of pneumonia.", "There is no pneumonia."):
        assert label_report(text)["Pneumonia"] == 0, text


def test_pseudo_negation_no_change_does_not_negate() -> None:
    assert label_report("No change in the small left pleural effusion.")["Pleural Effusion"] == 1
    assert label_report("No significant interval change in moderate cardiomegaly.")["Cardiomegaly"] == 1


def test_no_new_is_uncertain_as_in_chexpert() -> None:
    assert label_report("No new consolidation.")["Consolidation"] == -1


def test_xxxx_anonymisation_tokens_do_not_break_labeling() -> None:
    text = "XXXX XXXX. The XXXX are clear. No XXXX pleural effusion. XXXX-year-old. Heart size XXXX normal."
    labels = label_report(text)
    assert labels["Pleural Effusion"] == 0
    assert labels["No Finding"] == 1
    assert label_report("XXXX") == label_report("XXXX")  # deterministic
    assert _nonnull(label_report("XXXX XXXX XXXX")) == {"No Finding": 1}


def test_abbreviations_and_decimals_do_not_split_sentences() -> None:
    mentions = extract_mentions("Atelectasis vs. pneumonia in the 2.5 cm region. No effusion.")
    by_obs = {m.observation: m for m in mentions}
    assert by_obs["Atelectasis"].sentence_index == by_obs["Pneumonia"].sentence_index == 0
    assert by_obs["Pneumonia"].value == -1
    assert by_obs["Pleural Effusion"].sentence_index == 1 and by_obs["Pleural Effusion"].value == 0


def test_mentions_have_exact_character_spans() -> None:
    text = "Heart size is normal. Small left pleural effusion. No pneumothorax."
    for m in extract_mentions(text):
        assert text[m.start:m.end] == m.phrase
    effusion = next(m for m in extract_mentions(text) if m.observation == "Pleural Effusion")
    assert (effusion.start, effusion.end) == (text.index("effusion"), text.index("effusion") + len("effusion"))
    assert effusion.sentence_index == 1 and effusion.sentence == "Small left pleural effusion."
    assert effusion.value == 1 and effusion.side == "left"


def test_mention_sides_and_locations() -> None:
    text = ("Left lower lobe atelectasis and right pleural effusion. Opacity in the right upper lobe. "
            "Bibasilar opacities. Bilateral pleural effusions. Cardiomegaly.")
    got = [(m.observation, m.side, m.location) for m in extract_mentions(text)]
    assert got == [
        ("Atelectasis", "left", "lower lobe"),
        ("Pleural Effusion", "right", None),
        ("Lung Opacity", "right", "upper lobe"),
        ("Lung Opacity", "bilateral", "base"),
        ("Pleural Effusion", "bilateral", None),
        ("Cardiomegaly", None, None),
    ]


def test_mention_side_after_the_phrase_and_cardiac_chambers_are_not_sides() -> None:
    m = extract_mentions("There is a small effusion on the right.")[0]
    assert (m.observation, m.side) == ("Pleural Effusion", "right")
    m = extract_mentions("Pacemaker leads terminate in the right atrium and right ventricle.")[0]
    assert (m.observation, m.side) == ("Support Devices", None)


def test_mention_records_its_trigger() -> None:
    (m,) = extract_mentions("Pneumonia cannot be excluded.")
    assert m.value == -1 and m.trigger == "cannot be excluded"
    (m,) = extract_mentions("Pneumonia.")
    assert m.value == 1 and m.trigger is None


def test_multi_finding_report() -> None:
    text = ("Compared to prior, there is a new right lower lobe consolidation concerning for pneumonia. "
            "Moderate cardiomegaly is stable. Small bilateral pleural effusions. "
            "No pneumothorax. Right IJ catheter tip in the SVC.")
    assert _nonnull(label_report(text)) == {
        "Cardiomegaly": 1, "Consolidation": 1, "Pleural Effusion": 1, "Pneumonia": -1,
        "Pneumothorax": 0, "Support Devices": 1,
    }


def test_other_abnormalities_and_normal_phrases_decide_no_finding() -> None:
    assert label_report("Lungs are hyperinflated consistent with COPD.")["No Finding"] is None
    assert label_report("Degenerative changes of the thoracic spine.")["No Finding"] is None
    assert label_report("No radiographic evidence of acute cardiopulmonary disease.")["No Finding"] == 1
    labels = label_report("Lungs are clear bilaterally. Heart size and mediastinal contours are within normal limits.")
    assert _nonnull(labels) == {"Cardiomegaly": 0, "Enlarged Cardiomediastinum": 0, "No Finding": 1}


def test_case_and_non_ascii_do_not_shift_spans() -> None:
    assert label_report("NO PNEUMOTHORAX. SMALL LEFT PLEURAL EFFUSION.") == label_report("No pneumothorax. Small left pleural effusion.")
    text = "İİ patient. Small left pleural effusion."   # 'İ'.lower() is two characters long
    (m,) = extract_mentions(text)
    assert text[m.start:m.end] == m.phrase == "effusion" and m.side == "left"
