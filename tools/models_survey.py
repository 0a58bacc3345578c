"""`./capture run tools/models_survey.py [MODEL...]`: which torchvision classifiers capture whole.

For each model (all of torchvision 0.14's classification families by default), in eval mode under
no_grad on a small input: the graph and break counts capture.explain reports, whether the compiled
output equals eager's (eager backend: this is about capture, not speed), and the most common break
reasons; then the reasons over all models, most frequent first. What the whole-graphs work measures
itself against.
"""

import collections
import sys
import time

import torch
import torchvision

import capture

MODELS = ["resnet18", "resnext50_32x4d", "wide_resnet50_2", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0",
          "convnext_tiny", "regnet_y_400mf", "densenet121", "squeezenet1_0", "shufflenet_v2_x0_5", "googlenet",
          "inception_v3", "mnasnet0_5", "vgg11", "alexnet", "vit_b_16", "swin_t"]


def main(names):
    reasons = collections.Counter()
    for name in names or MODELS:
        torch.manual_seed(0)
        kwargs = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
        model = getattr(torchvision.models, name)(**kwargs).eval()
        side = 299 if name == "inception_v3" else 224 if name in ("vit_b_16", "swin_t") else 64
        x = torch.randn(1, 3, side, side)
        start = time.perf_counter()
        with torch.no_grad():
            try:
                report = capture.explain(model, x, backend="eager")
                same = torch.allclose(capture.compile(model, backend="eager")(x), model(x), atol=1e-4, rtol=1e-4)
            except Exception as e:  # noqa: BLE001 - a survey reports and goes on
                print(f"{name:20} ERROR {type(e).__name__}: {str(e)[:150]}", flush=True)
                continue
        mine = collections.Counter(b.reason.split(" at line")[0][:110] for b in report.break_reasons)
        reasons.update(mine)
        print(f"{name:20} graphs {report.graph_count:3} breaks {report.graph_break_count:3} matches eager: {same} "
              f"({time.perf_counter() - start:.0f} s) {dict(mine.most_common(3))}", flush=True)
        capture.reset()
    print("\nbreak reasons over all models:")
    for reason, count in reasons.most_common(25):
        print(f"{count:4} {reason}")


if __name__ == "__main__":
    main(sys.argv[1:])
