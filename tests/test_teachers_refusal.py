"""Refusal detection on answers that decline, and on substantive answers that must not be flagged."""

from __future__ import annotations

import pytest

from driftalign.teachers.refusal import is_refusal

REFUSALS = [
    "As an AI, I'm not capable of interpreting medical images.",
    "As an AI language model, I cannot provide a diagnosis. Please consult a radiologist.",
    "I cannot provide a diagnosis based on this image.",
    "I\u2019m sorry, but I can\u2019t help with interpreting X-rays.",
    "I'm unable to interpret medical images; a qualified professional should review it.",
    "I am not able to view the image you attached.",
    "",
    "   ",
]

ANSWERS = [
    "There is a right lower lobe consolidation with air bronchograms, consistent with pneumonia.",
    "Blunting of the left costophrenic angle with a meniscus sign supports a small pleural effusion. "
    "The cardiac silhouette is within normal limits. No pneumothorax.",
    "Findings: bilateral perihilar haziness and Kerley B lines suggest interstitial edema. " * 6
    + "As an AI I cannot replace a radiologist.",  # long reading, disclaimer at the end
    "The image cannot exclude a small pneumothorax at the apex; otherwise clear lungs.",
    "As an AI, I'm not capable of making medical diagnoses, but I can describe features in the image that "
    "relate to the stated diagnosis.\n\nThere is a patchy opacity in the left lingula.",  # disclaimer + pivot
    "I cannot provide a diagnosis. There is a patchy opacity in the left lower lobe with air bronchograms, "
    "and blunting of the right costophrenic angle suggests a small effusion. The heart size is normal.",
]


@pytest.mark.parametrize("text", REFUSALS)
def test_refusals_are_flagged(text):
    assert is_refusal(text) is True


@pytest.mark.parametrize("text", ANSWERS)
def test_readings_are_not_flagged(text):
    assert is_refusal(text) is False


def test_refusal_with_only_boilerplate_around_it_is_flagged():
    text = ("Thank you for sharing this image. Unfortunately, I cannot interpret radiographs. Please consult a "
            "qualified radiologist or another healthcare professional who can review the study in full clinical "
            "context and compare it with prior examinations.")
    assert is_refusal(text) is True
