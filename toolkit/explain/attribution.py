"""`toolkit explain`: per-token attributions of a trained classification or extractive QA run.

Integrated gradients runs on the input embeddings: the straight path from a baseline (every
token's embedding zeroed, special tokens kept) to the input is sampled at Gauss-Legendre points,
many points per forward pass; the weighted gradients of the explained score times
(input − baseline), summed over the embedding dimensions, add up to f(input) − f(baseline)
(`completeness`; the steps are doubled while they miss it by more than 5%). Zeros rather than
the pad token: GPT-2's pad is EOS, never trained as padding, a point the model may read as
anything (BERT's [PAD] is zero anyway). But T5 and Llama normalise the bare token embedding
with RMSNorm, singular at zero, where the path would turn sharply at its start: there the
baseline is the pad token's embedding (T5's is trained as the decoder start). Gradient × input (the
gradient at the input times the input) is the one-pass approximation: cheap, but blind where
the model is saturated, and on BERT-family models (LayerNorm over word + position + type
embedding) equal to −gradient · (position + type embedding), whatever the word.

The score explained is the target class logit, or for QA the start + end logits of the predicted
span, each relative to the mean logit (`centred`): softmax ignores a shift all logits share, and
a trained head often moves the other logits, leaving the target's flat. Embeddings are swapped
in by a hook on the embedding layer (on the encoder's input for encoder-decoders), so every
family runs its own forward unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.errors import ToolkitError
from toolkit.tasks.classification import Classification
from toolkit.tasks.qa import QuestionAnswering

if TYPE_CHECKING:
    from toolkit.tasks.base import Head, Task
from toolkit.explain.render import render_html, render_terminal, to_dict  # noqa: F401  (re-exported)

METHODS = ("integrated-gradients", "gradient-x-input")
SUPPORTED = "explain supports classification and extractive question answering"
GAP_ALLOWED = 0.05  # IG: |Σ scores − (f(x) − f(baseline))| allowed, relative
REFINE = 16  # at most this many times the asked steps, doubling while the gap is larger


@dataclass
class Explanation:
    task: str  # "classification" | "question-answering"
    method: str
    text: str  # the text, or the context for QA
    question: str | None
    tokens: list[str]  # the window's pieces as the model saw them, special tokens included
    scores: list[float]  # signed per token: > 0 pushes the explained score up
    segments: list[str | None]  # "text" / "question" / None (special token) per token
    offsets: list[list[int]]  # character span of each token in its segment ([0, 0]: special)
    words: list[str]  # words (their pieces summed), question words first
    word_scores: list[float]
    prediction: str  # the label, or the answer span ("" for no answer)
    probability: float  # class probability, or p(start) × p(end) of the span
    target: str  # what was explained: a label, "answer span" or "no answer"
    labels: list[str]
    attention: list[list[float]]  # last layer, heads averaged, tokens × tokens
    completeness: dict[str, float] | None = None  # integrated gradients only
    truncated: bool = False  # the text did not fit one window; the explained one is shown


def explain_text(
    run_dir: str | Path,
    text: str,
    question: str | None = None,
    method: str = "integrated-gradients",
    steps: int = 32,
    target: str | None = None,
    batch_size: int = 32,
) -> Explanation:
    """Attribute a run's prediction on `text` (the context, with `question`, for QA)."""
    from toolkit.evaluation.calibration import use_stored_temperature
    from toolkit.evaluation.scoring import saved_head
    from toolkit.lora import load_run_model
    from toolkit.recipe.load import load_recipe
    from toolkit.rundir import RunDir
    from toolkit.tasks.registry import task_for

    if method not in METHODS:
        raise ToolkitError(f"--method: {method!r} is not one of {', '.join(METHODS)}")
    if steps < 1:
        raise ToolkitError("--steps: must be at least 1")
    if not text.strip():
        raise ToolkitError("explain: the text is empty; give the sentence to explain")
    model_dir, recipe_file = RunDir(run_dir).open()
    recipe = load_recipe(recipe_file)
    task = task_for(recipe)
    trust = recipe.model.trust_remote_code
    head = saved_head(task, model_dir, trust)  # before any weights load
    task.bind(head)
    qa = explained_kind(task, head) == "spans"
    if qa and not (question or "").strip():
        raise ToolkitError("explain: question-answering runs need --question (TEXT is the context)")
    if not qa and question is not None:
        raise ToolkitError("--question: only question-answering runs take a question")
    if qa and target is not None:
        raise ToolkitError("--target: question answering explains the predicted span; drop it")
    loaded = load_run_model(model_dir, task.head, recipe.model.source(), trust)
    loaded.model.eval()
    if qa:
        assert isinstance(task, QuestionAnswering)
        return explain_qa(loaded, task.settings, text, question, method, steps, batch_size)
    assert isinstance(task, Classification)
    task.from_model(loaded.model.config)
    use_stored_temperature(task, RunDir(run_dir))  # the reported probability is calibrated
    return explain_class(loaded, task, text, method, steps, target, batch_size)


def explained_kind(task: Task, head: Head) -> str:
    """What an explanation attributes ("labels" or "spans"); refuses runs whose model writes
    text instead of scoring it."""
    kind = task.capabilities().explain
    if kind is None:
        raise ToolkitError(
            f"explain: {task.name} runs on this model write text (a {head.kind.value}); {SUPPORTED}"
        )
    return kind


def explain_class(loaded, task, text, method, steps, target, batch_size) -> Explanation:
    import torch

    labels = task.label_names
    if target is not None and target not in labels:
        raise ToolkitError(
            f"--target: {target!r} is not a label of this model: {', '.join(labels)}"
        )
    enc = loaded.tokenizer(
        [text], truncation=True, max_length=task.max_length, return_offsets_mapping=True
    )
    window = Window(enc, 0, loaded.tokenizer, {0: "text"})
    logits = forward(loaded, window.inputs).logits[0].float()
    probs = torch.softmax(logits / task.temperature, -1)  # eval.calibrate's T; else 1
    predicted = int(probs.argmax())
    index = predicted if target is None else labels.index(target)
    scores, completeness = attribute(
        loaded, window, lambda out: centred(out.logits)[:, index], method, steps, batch_size
    )
    return window.explanation(
        task="classification", method=method, text=text, question=None, scores=scores,
        completeness=completeness, prediction=labels[predicted],
        probability=float(probs[predicted]), target=labels[index], labels=labels,
        attention=attention(loaded, window), truncated=window.last_char < len(text.rstrip()),
    )  # fmt: skip


def explain_qa(loaded, s, text, question, method, steps, batch_size) -> Explanation:
    """Explain the best span over the context's windows (as eval picks it), in its window."""
    import torch

    from toolkit.tasks.qa_rows import check_question_lengths
    from toolkit.tasks.qa_spans import _as_matrix, _best_spans

    tokenizer = loaded.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise ToolkitError("model.name: extractive QA needs a fast tokenizer (for offsets)")
    question = question.strip()
    check_question_lengths(tokenizer, [question], s.max_length, s.stride)
    enc = tokenizer(
        [question], [text], truncation="only_second", max_length=s.max_length, stride=s.stride,
        return_overflowing_tokens=True, return_offsets_mapping=True,
    )  # fmt: skip
    names = {0: "question", 1: "text"}
    windows = [Window(enc, i, tokenizer, names) for i in range(len(enc["input_ids"]))]
    outs = [forward(loaded, w.inputs) for w in windows]
    starts = _as_matrix([o.start_logits[0].float().numpy() for o in outs])
    ends = _as_matrix([o.end_logits[0].float().numpy() for o in outs])
    context = [[o if g == "text" else None for o, g in zip(w.offsets, w.segments)] for w in windows]
    n = min(s.n_best, starts.shape[1])
    best, first, last = _best_spans(starts, ends, context, n, s.max_answer_length)
    k = int(np.argmax(best))
    window, start, end = windows[k], int(first[k]), int(last[k])
    null = float((starts[:, 0] + ends[:, 0]).min())
    if not np.isfinite(best[k]) or (s.allow_no_answer and null - best[k] > s.null_threshold):
        start = end = 0  # the null position: what the model points at to answer nothing
    answer = text[window.offsets[start][0] : window.offsets[end][1]].strip() if start else ""
    probability = float(
        torch.softmax(outs[k].start_logits[0], -1)[start]
        * torch.softmax(outs[k].end_logits[0], -1)[end]
    )
    span = lambda o: centred(o.start_logits)[:, start] + centred(o.end_logits)[:, end]  # noqa: E731
    scores, completeness = attribute(loaded, window, span, method, steps, batch_size)
    return window.explanation(
        task="question-answering", method=method, text=text, question=question, scores=scores,
        completeness=completeness, prediction=answer, probability=probability,
        target="answer span" if answer else "no answer", labels=[],
        attention=attention(loaded, window), truncated=len(windows) > 1,
    )  # fmt: skip


class Window:
    """One tokenized input: model tensors, and per token its segment, offsets and word."""

    def __init__(self, enc: Any, i: int, tokenizer: Any, names: dict[int, str]):
        import torch

        keep = set(tokenizer.model_input_names) | {"input_ids", "attention_mask"}
        self.inputs = {k: torch.tensor([enc[k][i]]) for k in enc if k in keep}
        self.tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][i])
        self.segments = [None if q is None else names[q] for q in enc.sequence_ids(i)]
        spans = zip(enc["offset_mapping"][i], self.segments)
        self.offsets = [list(o) if g else [0, 0] for o, g in spans]
        self.word_ids = enc.word_ids(i)
        self.last_char = max(b for _, b in self.offsets)

    def explanation(self, scores: np.ndarray, **fields: Any) -> Explanation:
        """The Explanation, with the token scores also summed per word."""
        sources = {"text": fields["text"], "question": fields["question"] or ""}
        words: dict[tuple, list] = {}
        for segment, (a, b), word, score in zip(self.segments, self.offsets, self.word_ids, scores):
            if segment is not None:
                entry = words.setdefault((segment == "text", word), [a, b, 0.0, segment])
                entry[:3] = [min(entry[0], a), max(entry[1], b), entry[2] + float(score)]
        ordered = sorted(words.items(), key=lambda item: (item[0][0], item[1][0]))
        return Explanation(
            tokens=self.tokens, scores=[round(float(x), 6) for x in scores],
            segments=self.segments, offsets=self.offsets,
            words=[sources[g][a:b].strip() for _, (a, b, _, g) in ordered],
            word_scores=[round(v, 6) for _, (_, _, v, _) in ordered], **fields,
        )  # fmt: skip


def forward(loaded: Any, inputs: dict, embeddings: Any = None, **options: Any) -> Any:
    """The model on `inputs` (no grad), or on `inputs` repeated to the rows of `embeddings`,
    which replace the token embeddings (the encoder's input, for encoder-decoders)."""
    import torch

    model = loaded.model
    if embeddings is None:
        with torch.no_grad():
            return model(**inputs, **options)
    embeddings = embeddings.to(model.get_input_embeddings().weight.dtype)
    batch = {k: v.expand(len(embeddings), -1) for k, v in inputs.items()}
    if loaded.family.is_encoder_decoder:
        swap = lambda _m, args, kw: (args, {**kw, "input_ids": None, "inputs_embeds": embeddings})  # noqa: E731
        hook = model.get_encoder().register_forward_pre_hook(swap, with_kwargs=True)
    else:
        hook = model.get_input_embeddings().register_forward_hook(lambda *_: embeddings)
    try:
        return model(**batch, **options)
    finally:
        hook.remove()


def attribute(
    loaded: Any, window: Window, score: Callable, method: str, steps: int, batch_size: int
) -> tuple[np.ndarray, dict[str, float] | None]:
    """Per-token attributions of `score(outputs)` (one value per row), and for integrated
    gradients its completeness check. Where the scores miss f(x) − f(baseline) by more than
    GAP_ALLOWED (a sharp turn on the path, typical of a saturated model), the steps are doubled,
    up to REFINE times the asked number."""
    import torch

    layer = loaded.model.get_input_embeddings()
    with torch.no_grad():
        x = layer(window.inputs["input_ids"])[0].float()
        special = torch.tensor([g is None for g in window.segments])[:, None]
        base = torch.where(special, x, baseline_embedding(loaded, layer, x))
    if method == "gradient-x-input":
        grad = integrate(loaded, window, score, x, x, np.zeros(1), np.ones(1), batch_size)
        return (grad * x).sum(-1).numpy(), None
    with torch.no_grad():
        ends = score(forward(loaded, window.inputs, torch.stack([x, base]))).float()
    difference, n = float(ends[0] - ends[1]), steps
    while True:
        nodes, weights = np.polynomial.legendre.leggauss(n)
        grad = integrate(loaded, window, score, base, x, (nodes + 1) / 2, weights / 2, batch_size)
        scores = (grad * (x - base)).sum(-1).numpy()
        gap = abs(float(scores.sum()) - difference)
        if gap <= GAP_ALLOWED * max(abs(difference), 0.1) or n >= steps * REFINE:
            break
        n *= 2
    summed = float(scores.sum())
    return scores, {"attribution_sum": summed, "difference": difference, "gap": gap, "steps": n}


def baseline_embedding(loaded: Any, layer: Any, x: Any) -> Any:
    """Zeros; the pad token's embedding for models whose RMSNorm sees the bare token embedding
    (no position embedding added), which is singular at zero."""
    import torch

    if not loaded.family.rms_norm or loaded.tokenizer.pad_token_id is None:
        return torch.zeros_like(x[0])
    return layer(torch.tensor([loaded.tokenizer.pad_token_id]))[0].float()


def integrate(loaded, window, score, base, x, alphas, weights, batch_size) -> Any:
    """Σ_k weight_k · ∇score(base + alpha_k (x − base)): the gradients along the straight path,
    several points per forward pass."""
    import torch

    total = torch.zeros_like(x)
    for begin in range(0, len(alphas), batch_size):
        a, w = (torch.tensor(v[begin : begin + batch_size]).float() for v in (alphas, weights))
        points = (base + a[:, None, None] * (x - base)).requires_grad_(True)
        (grad,) = torch.autograd.grad(score(forward(loaded, window.inputs, points)).sum(), points)
        total += (grad.float() * w[:, None, None]).sum(0)
    return total


def centred(logits: Any) -> Any:
    """Logits minus their mean: what softmax sees, free of a shift shared by all of them."""
    return logits - logits.mean(-1, keepdim=True)


def attention(loaded: Any, window: Window) -> list[list[float]]:
    """The last layer's attention, heads averaged ([] when the model cannot return it)."""
    model = loaded.model
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        base.set_attn_implementation("eager")  # sdpa kernels return no attention weights
        out = forward(loaded, window.inputs, output_attentions=True)
    except (ValueError, TypeError, AttributeError, NotImplementedError):
        return []
    layers = getattr(out, "encoder_attentions", None) or getattr(out, "attentions", None)
    if not layers:
        return []
    return np.round(layers[-1][0].float().mean(0).numpy(), 4).tolist()


explain = explain_text  # the name the HTML report looks for
