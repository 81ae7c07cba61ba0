"""Does it actually learn? A tiny Transformer learns to reverse random sequences (>= 95% exact match), and the whole
user path (text files -> SentencePiece -> `nmt.train` -> `Translator` -> sacreBLEU) learns a made-up translation
task (Sockeye's system tests are the model): a broken causal mask, attention or schedule fails it."""

import random

import nmt
from nmt.evaluate import score
from tests.conftest import reverse_exact_match, reverse_samples, write_synthetic_corpus


def test_tiny_model_learns_to_reverse(reverse_model):
    model, accuracy, step = reverse_model
    assert accuracy >= 0.95, f"reverse task: {accuracy:.0%} exact match after {step} steps"
    assert reverse_exact_match(model, reverse_samples(random.Random(123), 200), beam=4) >= 0.95


def test_train_translate_score_learns_a_synthetic_language(tmp_path):
    """Train through `nmt.train` (cosine schedule, checkpoint averaging), decode unseen sentences with the saved
    run, score them with sacreBLEU: target = source words reversed, each word suffixed (needs attention, the
    causal mask and the schedule all working; an untrained or broken model scores below 10)."""
    config = tmp_path / "synth.yaml"
    config.write_text(write_synthetic_corpus(tmp_path, n=2000))
    result = nmt.train(config, ["train.max_steps=800", "train.schedule=cosine", "train.warmup_steps=50",
                                "train.lr=0.005", "train.valid_every=200", "train.save_every=20",
                                "train.keep_last=3", "train.average_last=3"], run_dir=tmp_path / "run")
    assert result.steps == 800 and "max_steps" in result.stopped
    rng = random.Random(99)  # sentences never seen in training
    words = [f"w{i}" for i in range(30)]
    src = [" ".join(rng.choice(words) for _ in range(rng.randint(2, 7))) for _ in range(100)]
    refs = [" ".join(w + "x" for w in reversed(line.split())) for line in src]
    for checkpoint in ("best", "averaged"):
        translator = nmt.Translator.load(tmp_path / "run", checkpoint)
        for beam in (1, 4):
            bleu = score(translator(src, beam), refs, metrics=("bleu",))["bleu"]["score"]
            assert bleu >= 90, f"{checkpoint} checkpoint, beam {beam}: BLEU {bleu} on the synthetic task"
