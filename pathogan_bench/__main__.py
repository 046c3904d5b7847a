import os
import sys

# `python -m` puts the working directory first on sys.path; a *.dist-info folder there would then
# register its entry points as plugins. Plugins come from installed packages only.
sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]

from pathogan_bench.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
