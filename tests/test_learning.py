"""Does it actually learn? A tiny Transformer learns to reverse random sequences (>= 95% exact match)."""

import random

from tests.conftest import reverse_exact_match, reverse_samples


def test_tiny_model_learns_to_reverse(reverse_model):
    model, accuracy, step = reverse_model
    assert accuracy >= 0.95, f"reverse task: {accuracy:.0%} exact match after {step} steps"
    assert reverse_exact_match(model, reverse_samples(random.Random(123), 200), beam=4) >= 0.95
