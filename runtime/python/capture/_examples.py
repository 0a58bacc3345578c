"""Loading a pyexamples-style file as a module named after it, its folder on sys.path as for a
script (C#: runtime/.../ExampleFile.cs)."""

import importlib.util
import os
import sys


def load(path, folder):
    name = os.path.splitext(os.path.basename(path))[0]
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
