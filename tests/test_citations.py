import pytest

from extractor.parse.citations import expand_pages, parse_guideline_paragraph


def _cite(paragraph: str) -> list[tuple[str, str | None, str | None, list[int]]]:
    return [(c.source, c.guideline, c.topic, c.pages) for c in parse_guideline_paragraph(paragraph)]


@pytest.mark.parametrize(
    ("paragraph", "expected"),
    [
        (
            "Decision based on MTUS Chronic Pain Treatment Guidelines Gabapentin (Neurontin) Page(s): 17-19, 49.  "
            "Decision based on Non-MTUS Citation Official Disability Guidelines (ODG), Gralise.",
            [("MTUS", "Chronic Pain Treatment Guidelines", "Gabapentin (Neurontin)", [17, 18, 19, 49]),
             ("ODG", "Official Disability Guidelines", "Gralise", [])],
        ),
        (
            "Decision based on MTUS Neck and Upper Back Complaints 2004, Section(s): Special Studies, and Forearm, "
            "Wrist, and Hand Complaints 2004.",
            [("MTUS", "Neck and Upper Back Complaints 2004", "Special Studies", []),
             ("MTUS", "Forearm, Wrist, and Hand Complaints 2004", None, [])],
        ),
        (
            "The Expert Reviewer did not base their decision on the MTUS. Decision based on Non-MTUS Citation "
            "Official Disability Guidelines (ODG) Head section, Electroencephalography.",
            [("ODG", "Head", "Electroencephalography", [])],
        ),
        (
            "Decision based on Non-MTUS Citation Official Disability Guidelines, Low Back - Lumbar & Thoracic "
            "(Acute & Chronic), Electrodiagnostic Studies (EDS).",
            [("ODG", "Low Back - Lumbar & Thoracic (Acute & Chronic)", "Electrodiagnostic Studies (EDS)", [])],
        ),
        (
            "Decision based on Non-MTUS Citation Official Disability Guidelines (ODG), Pain chapter (online version): "
            "Opioids, specific drug list.",
            [("ODG", "Pain", "Opioids, specific drug list", [])],
        ),
        (
            "Decision based on Non-MTUS Citation ACOEM guidelines and the Official Disability Guidelines.",
            [("ACOEM", "ACOEM", None, []), ("ODG", "Official Disability Guidelines", None, [])],
        ),
        ("Decision based on Non-MTUS Citation What is an electrocardiogram?",
         [("other", "What is an electrocardiogram?", None, [])]),
        ("The Claims Administrator did not cite any medical evidence for its decision.", []),
        (
            "The Claims Administrator based their decision on recommendation(s) outside of the MTUS Guidelines. "
            "Decision based on Non-MTUS Citation Official Disability Guidelines (ODG), Neck and Upper Back, Low Back.",
            [("ODG", "Neck and Upper Back", None, []), ("ODG", "Low Back", None, [])],
        ),
        (  # layout C names sources in free sentences
            "MTUS Low Back Complaints 2004, Section(s): Physical Methods. Official Disability Guidelines (ODG), "
            "Shoulder, Magnetic resonance imaging (MRI). These guidelines set out when imaging is indicated.",
            [("MTUS", "Low Back Complaints 2004", "Physical Methods", []),
             ("ODG", "Shoulder", "Magnetic resonance imaging (MRI)", [])],
        ),
    ],
)
def test_guideline_paragraphs(paragraph: str, expected: list[tuple[str, str | None, str | None, list[int]]]) -> None:
    assert _cite(paragraph) == expected


def test_citation_ranges_cover_their_sentence() -> None:
    paragraph = "Decision based on MTUS Low Back Complaints 2004. Decision based on Non-MTUS Citation ODG, Low Back."
    first, second = parse_guideline_paragraph(paragraph)
    assert paragraph[first.start : first.end].startswith("Decision based on MTUS")
    assert paragraph[second.start : second.end].startswith("Decision based on Non-MTUS")


def test_expand_pages() -> None:
    assert expand_pages("17-19, 49") == [17, 18, 19, 49]
    assert expand_pages(None) == []


@pytest.mark.parametrize(
    ("paragraph", "expected"),
    [
        ("Decision based on Non-MTUS Citation Official Disability Guidelines (ODG), Knee & Leg (updated 11/22/16) "
         "Chapter: Home Health Services.", [("ODG", "Knee & Leg", "Home Health Services", [])]),
        ("Decision based on Non-MTUS Citation Official Disability Guidelines, Neck and Upper Back, TENS; "
         "Low Back - Lumbar & Thoracic (Acute & Chronic).",
         [("ODG", "Neck and Upper Back", "TENS", []), ("ODG", "Low Back - Lumbar & Thoracic (Acute & Chronic)", None, [])]),
        ("Decision based on Non-MTUS Citation Official Disability Guidelines (ODG), Neck and Upper Back Chapter, "
         "Shoulder Chapter, Physical therapy.",
         [("ODG", "Neck and Upper Back", "Physical therapy", []), ("ODG", "Shoulder", "Physical therapy", [])]),
        ("Decision based on Non-MTUS Citation Official Disability Guidelines (ODG) Knee and Leg (Acute and Chronic): "
         "Platelet-rich plasma (2016).", [("ODG", "Knee and Leg (Acute and Chronic)", "Platelet-rich plasma", [])]),
        # a chapter the table does not know, named as one, after a known one and alone
        ("Decision based on Non-MTUS Citation Official Disability Guidelines, Shoulder Chapter, Toe Chapter, "
         "Physical therapy.", [("ODG", "Shoulder", "Physical therapy", []), ("ODG", "Toe", "Physical therapy", [])]),
        ("Decision based on Non-MTUS Citation Official Disability Guidelines (ODG), Finger Chapter, Splints.",
         [("ODG", "Finger", "Splints", [])]),
        # the topic first, the chapter after it
        ("Decision based on Non-MTUS Citation Official Disability Guidelines (ODG) massage therapy, wrist chapter.",
         [("ODG", "wrist", "massage therapy", [])]),
        # the publisher and edition before the chapter, a date after it
        ("Decision based on Non-MTUS Citation Official Disability Guidelines (ODG), Work Loss Data Institute (19th "
         "Annual Edition), 2015, Ankle and Foot (Acute & Chronic) Chapter.", [("ODG", "Ankle and Foot (Acute & Chronic)", None, [])]),
        ("Decision based on Non-MTUS Citation Official Disability Guidelines (ODG) Chapter: Knee and Leg 03/04/2015 "
         "Arthroscopic surgery.", [("ODG", "Knee and Leg", "Arthroscopic surgery", [])]),
        # "chapter" inside a topic names no chapter
        ("Decision based on Non-MTUS Citation Official Disability Guidelines (ODG), Pain, Chapter on opioids.",
         [("ODG", "Pain", "Chapter on opioids", [])]),
    ],
)
def test_odg_chapters_qualifiers_and_shared_topics(paragraph: str, expected: list) -> None:  # type: ignore[type-arg]
    assert _cite(paragraph) == expected
