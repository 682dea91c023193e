"""SQuAD metrics, QA feature preparation and n-best post-processing, on hand-worked cases and on
tiny tokenizers trained here (offline)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import train_wordpiece

from toolkit.metrics import normalize_answer, squad_metrics
from toolkit.tasks.qa_spans import postprocess, prepare_features

# --- metrics -----------------------------------------------------------------------------------


def test_normalize_answer_drops_case_punctuation_articles_and_extra_space():
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert normalize_answer("an apple, a pear") == "apple pear"
    # Articles only go as whole words: "theory" and "panama" keep their letters.
    assert normalize_answer("Theory of a Panama") == "theory of panama"
    assert normalize_answer("  U.S.A. ") == "usa"


def test_squad_metrics_exact_match_and_max_over_gold_answers():
    result = squad_metrics(
        ["the Eiffel Tower", "Paris", "London"],
        [["Eiffel Tower"], ["France", "paris."], ["Paris"]],
    )
    # Example 2 matches its second gold answer; the max over golds counts.
    headline = {k: result[k] for k in ("exact_match", "f1", "samples")}
    assert headline == pytest.approx({"exact_match": 200 / 3, "f1": 200 / 3, "samples": 3})
    assert result["exact_match_ci"][0] <= 200 / 3 <= result["exact_match_ci"][1]


def test_squad_metrics_partial_overlap_f1_worked_by_hand():
    # prediction tokens: [big, red, barn], gold: [red, barn, door, frame]; 2 shared tokens.
    # precision 2/3, recall 2/4, F1 = 2 * (2/3 * 1/2) / (2/3 + 1/2) = 4/7.
    result = squad_metrics(["a big red barn"], [["the red barn door frame"]])
    assert result["exact_match"] == 0.0
    assert result["f1"] == pytest.approx(100 * 4 / 7)
    # The best gold for F1 need not be the first one.
    result = squad_metrics(["red barn"], [["blue sky", "red barn door"]])
    assert result["f1"] == pytest.approx(100 * 0.8)  # p = 1, r = 2/3 -> F1 = 0.8


def test_squad_metrics_no_answer_cases():
    result = squad_metrics(["", "Paris", "", "the"], [[], [], ["Paris"], []])
    # "" vs no-answer: 100; "Paris" vs no-answer: 0; "" vs an answer: 0; "the" normalises to "".
    assert result["exact_match"] == pytest.approx(50.0)
    assert result["f1"] == pytest.approx(50.0)
    assert result["samples"] == 4


def test_squad_metrics_rejects_length_mismatch_and_handles_empty():
    with pytest.raises(ValueError):
        squad_metrics(["a"], [])
    empty = squad_metrics([], [])
    assert {k: empty[k] for k in ("exact_match", "f1", "samples")} == {
        "exact_match": 0.0, "f1": 0.0, "samples": 0,
    }  # fmt: skip
    assert empty["exact_match_ci"] == [0.0, 0.0]


# --- postprocess on hand-built logits ------------------------------------------------------------

CONTEXT = "Paris is the capital of France"
# [CLS] q q [SEP] Paris is the capital of France [SEP]
OFFSETS = [None, None, None, None, (0, 5), (6, 8), (9, 12), (13, 20), (21, 23), (24, 30), None]


def one_feature(start: dict[int, float], end: dict[int, float]):
    starts, ends = np.zeros((1, len(OFFSETS))), np.zeros((1, len(OFFSETS)))
    for index, value in start.items():
        starts[0, index] = value
    for index, value in end.items():
        ends[0, index] = value
    return starts, ends, {"offset_mapping": [OFFSETS], "example_id": [0]}


def test_postprocess_extracts_best_span_text():
    starts, ends, features = one_feature({7: 4.0}, {9: 5.0, 7: 1.0})
    [answer] = postprocess(starts, ends, features, [CONTEXT])
    assert answer["prediction_text"] == "capital of France"
    assert answer["start"] == 13
    assert answer["score"] == pytest.approx(9.0)
    assert answer["no_answer_score"] == pytest.approx(0.0)


def test_postprocess_trims_the_leading_space_of_byte_level_offsets():
    # Byte-level BPE may give " is" the offsets (5, 8); the answer is "is", starting at 6.
    starts, ends, features = one_feature({5: 4.0}, {6: 4.0})
    features["offset_mapping"][0] = OFFSETS[:5] + [(5, 8)] + OFFSETS[6:]
    [answer] = postprocess(starts, ends, features, [CONTEXT])
    assert (answer["prediction_text"], answer["start"]) == ("is the", 6)


def test_postprocess_rejects_spans_touching_question_or_special_tokens():
    # (2, 5) starts in the question and (4, 10) ends on [SEP]: both would outscore (4, 5).
    starts, ends, features = one_feature({2: 10.0, 4: 3.0}, {5: 10.0, 10: 20.0})
    [answer] = postprocess(starts, ends, features, [CONTEXT])
    assert answer["prediction_text"] == "Paris is"
    assert answer["score"] == pytest.approx(13.0)


def test_postprocess_rejects_too_long_spans():
    # (4, 9) scores 20 but is 6 tokens; (4, 4) scores 11.5 and (9, 9) 11.
    starts, ends, features = one_feature({4: 10.0, 9: 1.0}, {9: 10.0, 4: 1.5})
    [answer] = postprocess(starts, ends, features, [CONTEXT], max_answer_length=3)
    assert answer["prediction_text"] == "Paris"
    assert answer["score"] == pytest.approx(11.5)
    [answer] = postprocess(starts, ends, features, [CONTEXT], max_answer_length=6)
    assert answer["prediction_text"] == CONTEXT
    assert answer["score"] == pytest.approx(20.0)


def test_postprocess_rejects_spans_ending_before_they_start():
    # (9, 4) scores 20 but runs backwards; (4, 4) scores 12 and (9, 9) 11.
    starts, ends, features = one_feature({9: 10.0, 4: 2.0}, {4: 10.0, 9: 1.0})
    [answer] = postprocess(starts, ends, features, [CONTEXT])
    assert answer["prediction_text"] == "Paris"
    assert answer["score"] == pytest.approx(12.0)


def test_postprocess_only_considers_the_n_best_positions():
    # The best start is a question token; with n_best=1 no valid span remains.
    starts, ends, features = one_feature({2: 10.0, 4: 3.0}, {5: 10.0})
    [answer] = postprocess(starts, ends, features, [CONTEXT], n_best=1)
    assert answer == {"prediction_text": "", "score": 0.0, "start": -1, "no_answer_score": 0.0}
    [answer] = postprocess(starts, ends, features, [CONTEXT], n_best=2)
    assert answer["prediction_text"] == "Paris is"


def two_window_example():
    """Example 0 split into 2 features overlapping on "the capital"; example 1 sits between them
    in feature order, so grouping must follow example_id, not position."""
    context = "Paris is the capital of France and Lyon is a city"
    first = [None, None, (0, 5), (6, 8), (9, 12), (13, 20), None]
    second = [None, None, (9, 12), (13, 20), (21, 23), (24, 30), None]
    other = [None, None, (0, 5), (6, 8), None]
    offsets = [first, other, second]
    starts = np.array([[0, 0, 6, 0, 0, 0, 0], [0, 0, 2, 0, 0, 0, 0], [0, 0, 0, 7, 0, 0, 0.0]])
    ends = np.array([[0, 0, 6, 0, 0, 0, 0], [0, 0, 0, 2, 0, 0, 0], [0, 0, 0, 0, 0, 7, 0.0]])
    features = {"offset_mapping": offsets, "example_id": [0, 1, 0]}
    return starts, ends, features, [context, "Lyon is nice"]


def test_postprocess_takes_best_span_across_overlapping_features():
    starts, ends, features, contexts = two_window_example()
    best, other = postprocess(starts, ends, features, contexts)
    # Feature 0 offers "Paris" (12); feature 2 offers "capital of France" (14).
    assert best["prediction_text"] == "capital of France"
    assert best["start"] == 13
    assert best["score"] == pytest.approx(14.0)
    assert other["prediction_text"] == "Lyon is"
    assert other["score"] == pytest.approx(4.0)


def test_postprocess_accepts_ragged_logits():
    starts, ends, features, contexts = two_window_example()
    ragged_starts = [starts[0], starts[1, :5], starts[2]]
    ragged_ends = [ends[0], ends[1, :5], ends[2]]
    answers = postprocess(ragged_starts, ragged_ends, features, contexts)
    assert [a["prediction_text"] for a in answers] == ["capital of France", "Lyon is"]


def test_postprocess_null_threshold_predicts_no_answer():
    starts, ends, features, contexts = two_window_example()
    starts[:, 0] = [6.0, 1.0, 5.0]
    ends[:, 0] = [6.0, 1.0, 5.0]
    # Example 0: null score = min(12, 10) = 10 vs best span 14 -> answer unless threshold < -4.
    answers = postprocess(starts, ends, features, contexts, null_threshold=0.0)
    assert answers[0]["prediction_text"] == "capital of France"
    assert answers[0]["no_answer_score"] == pytest.approx(10.0)
    answers = postprocess(starts, ends, features, contexts, null_threshold=-5.0)
    assert answers[0] == {
        "prediction_text": "",
        "score": pytest.approx(10.0),
        "start": -1,
        "no_answer_score": pytest.approx(10.0),
    }
    # Example 1: null 2 vs span 4; the difference -2 beats a threshold of -3 but not -1.
    assert answers[1]["prediction_text"] == ""
    answers = postprocess(starts, ends, features, contexts, null_threshold=-1.0)
    assert answers[1]["prediction_text"] == "Lyon is"


def test_postprocess_reads_a_datasets_table_and_its_cls_index():
    from datasets import Dataset

    starts, ends, features, contexts = two_window_example()
    starts[:, 0] = ends[:, 0] = [6.0, 1.0, 5.0]
    starts[2, 1] = ends[2, 1] = 1.0
    # Feature 2's null position is 1 (e.g. [CLS] after left padding): its null score is 2, not 10.
    table = Dataset.from_dict({**features, "cls_index": [0, 0, 1]})
    best, _ = postprocess(starts, ends, table, contexts, null_threshold=0.0)
    assert best["prediction_text"] == "capital of France"
    assert best["no_answer_score"] == pytest.approx(2.0)


def brute_force(starts, ends, offsets, example_ids, n_best, max_length):
    """Every (start, end) pair of every feature's top-n positions, one at a time."""
    best: dict[int, tuple[float, int, int]] = {}
    for row, (s, e, offs) in enumerate(zip(starts, ends, offsets)):
        for i in np.argsort(-s, kind="stable")[:n_best]:
            for j in np.argsort(-e, kind="stable")[:n_best]:
                if offs[i] is None or offs[j] is None or not 0 <= j - i < max_length:
                    continue
                score = s[i] + e[j]
                if score > best.get(example_ids[row], (-np.inf,))[0]:
                    best[example_ids[row]] = (score, offs[i][0], offs[j][1])
    return best


def test_postprocess_matches_brute_force_on_random_logits():
    rng = np.random.default_rng(0)
    features, length, context = 60, 48, "x" * 400
    offsets = []
    for _ in range(features):
        question = int(rng.integers(3, 10))
        tokens = [(4 * k, 4 * k + 3) for k in range(length - question - 2)]
        offsets.append([None] * (question + 1) + tokens + [None])
    example_ids = sorted(rng.integers(0, 25, features).tolist())
    starts, ends = rng.normal(size=(2, features, length))
    expected = brute_force(starts, ends, offsets, example_ids, n_best=5, max_length=4)
    answers = postprocess(
        starts,
        ends,
        {"offset_mapping": offsets, "example_id": example_ids},
        [context] * 25,
        n_best=5,
        max_answer_length=4,
    )
    for example, answer in enumerate(answers):
        if example not in expected:
            assert answer["start"] == -1
            continue
        score, start, end = expected[example]
        assert answer["score"] == pytest.approx(score)
        assert (answer["start"], len(answer["prediction_text"])) == (start, end - start)


# --- prepare_features with real fast tokenizers --------------------------------------------------

FILLER = (
    "the river flows past old stone bridges while merchants sell bread and fish near the busy "
    "market square where children play"
).split()
ANSWER = "Lisbon in 1750"
QUESTION = "Where and when was the treaty signed?"


def long_context() -> str:
    words = [FILLER[i % len(FILLER)] for i in range(90)]
    words[45:45] = f"the treaty was signed in {ANSWER} by both kings".split()
    return " ".join(words)


def corpus() -> list[str]:
    return [long_context(), QUESTION, "Who sells bread? Is the river old?"] * 3


@pytest.fixture(scope="module")
def wordpiece():
    return train_wordpiece(None, corpus(), vocab_size=300, mask=False)


@pytest.fixture(scope="module")
def bytelevel():
    """GPT-2 style: byte-level BPE, no CLS token, pad = eos, no pair template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus(), trainer)
    eos = "<|endoftext|>"
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, pad_token=eos)


def squad_answer(context: str) -> dict[str, list]:
    return {"text": [ANSWER], "answer_start": [context.index(ANSWER)]}


def check_labels(features: dict, context: str) -> None:
    """Labelled features decode to the answer; the others point at the null position."""
    labelled = 0
    for offsets, start, end, null in zip(
        features["offset_mapping"],
        features["start_positions"],
        features["end_positions"],
        features["cls_index"],
    ):
        window = [o for o in offsets if o is not None]
        holds_answer = window[0][0] <= context.index(ANSWER) and window[-1][1] >= (
            context.index(ANSWER) + len(ANSWER)
        )
        if holds_answer:
            labelled += 1
            # Byte-level offsets may keep a leading space (a `tokenizers` quirk at window starts).
            assert context[offsets[start][0] : offsets[end][1]].lstrip() == ANSWER
        else:
            assert start == end == null
    assert 0 < labelled < len(features["input_ids"])


def peaked_logits(features: dict) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(ids) for ids in features["input_ids"])
    starts, ends = np.zeros((2, len(features["input_ids"]), width))
    rows = np.arange(len(starts))
    starts[rows, features["start_positions"]] = 10.0
    ends[rows, features["end_positions"]] = 10.0
    return starts, ends


def test_prepare_features_splits_long_context_into_overlapping_windows(wordpiece):
    context = long_context()
    features = prepare_features(
        wordpiece, [QUESTION], [context], 40, 10, answers=[squad_answer(context)]
    )
    count = len(features["input_ids"])
    assert count >= 3
    assert features["example_id"] == [0] * count
    assert all(len(ids) <= 40 for ids in features["input_ids"])
    windows = [[o for o in offsets if o is not None] for offsets in features["offset_mapping"]]
    for previous, following in zip(windows, windows[1:]):
        assert previous[-10:] == following[:10]
    for offsets, ids in zip(features["offset_mapping"], features["input_ids"]):
        # [CLS] question [SEP] context [SEP]: only context tokens keep offsets.
        assert offsets[0] is None and offsets[-1] is None
        assert ids[0] == wordpiece.cls_token_id
    check_labels(features, context)


def test_prepare_features_round_trip_and_no_answer(wordpiece):
    context = long_context()
    contexts = [context, "who sells bread near the river", context]
    answers = [squad_answer(context), {"text": [], "answer_start": []}, squad_answer(context)]
    features = prepare_features(
        wordpiece, [QUESTION, "Who sells bread?", QUESTION], contexts, 40, 10, answers=answers
    )
    empty = [i for i, example in enumerate(features["example_id"]) if example == 1]
    assert len(empty) == 1
    assert features["start_positions"][empty[0]] == features["end_positions"][empty[0]] == 0
    starts, ends = peaked_logits(features)
    predictions = postprocess(starts, ends, features, contexts, null_threshold=0.0)
    assert [p["prediction_text"] for p in predictions] == [ANSWER, "", ANSWER]
    assert predictions[0]["start"] == context.index(ANSWER)
    assert squad_metrics([p["prediction_text"] for p in predictions], [[ANSWER], [], [ANSWER]])[
        "exact_match"
    ] == pytest.approx(100.0)


def test_prepare_features_context_first_and_left_padding(wordpiece):
    context = long_context()
    wordpiece.padding_side = "left"
    try:
        features = prepare_features(
            wordpiece,
            [QUESTION],
            [context],
            40,
            10,
            answers=[squad_answer(context)],
            question_first=False,
            padding="max_length",
        )
    finally:
        wordpiece.padding_side = "right"
    assert all(len(ids) == 40 for ids in features["input_ids"])
    # The last window is short, so left padding moves its [CLS] away from position 0.
    assert features["cls_index"][-1] > 0
    assert features["input_ids"][-1][features["cls_index"][-1]] == wordpiece.cls_token_id
    for offsets, ids in zip(features["offset_mapping"], features["input_ids"]):
        sep = ids.index(wordpiece.sep_token_id)
        # [CLS] context [SEP] question [SEP]: offsets survive only before the first [SEP].
        assert all(o is None for o in offsets[sep:])
    check_labels(features, context)
    starts, ends = peaked_logits(features)
    [answer] = postprocess(starts, ends, features, [context])
    assert answer["prediction_text"] == ANSWER


@pytest.mark.parametrize("padding", [False, "max_length"])
def test_prepare_features_gpt2_style_tokenizer(bytelevel, padding):
    context = long_context()
    bytelevel.padding_side = "left"
    try:
        features = prepare_features(
            bytelevel,
            [QUESTION],
            [context],
            48,
            12,
            answers=[squad_answer(context)],
            padding=padding,
        )
    finally:
        bytelevel.padding_side = "right"
    assert bytelevel.cls_token_id is None
    assert len(features["input_ids"]) >= 3
    assert features["cls_index"] == [0] * len(features["input_ids"])
    check_labels(features, context)
    starts, ends = peaked_logits(features)
    [answer] = postprocess(starts, ends, features, [context])
    assert answer["prediction_text"] == ANSWER
    assert answer["start"] == context.index(ANSWER)
