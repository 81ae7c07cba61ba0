"""The README's pictures: attention of each kind for one sentence, and the training curves of a run.

    python scripts/make_figures.py --run runs/multi30k-en-de --out docs/img
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nmt.attention_maps import explain
from nmt.plots import plot_attention, plot_training
from nmt.translate import Translator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="runs/multi30k-en-de")
    parser.add_argument("--sentence", default="A little girl climbs into a wooden playhouse.")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args()
    translator = Translator.load(args.run)
    translator.cfg.decode = translator.settings(beam_size=args.beam)
    item = explain(translator, [args.sentence])[0]
    print(f"{args.sentence} -> {item.translation}  alignment: {item.pharaoh}")
    for kind in ("cross", "self", "masked"):
        plot_attention(item.maps[0], kind, args.out / f"attention-{kind}.png")
    plot_attention(item.maps[0], "cross", args.out / "attention-cross-heads.png", all_heads=True)
    plot_training(Path(args.run), args.out / "training.png")
    print(f"wrote {args.out}/attention-{{cross,self,masked,cross-heads}}.png and training.png")


if __name__ == "__main__":
    main()
