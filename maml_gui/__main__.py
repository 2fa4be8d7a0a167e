import sys

from maml_gui.cli import main

if __name__ == "__main__":  # worker processes import the main module: never run the app there
    sys.exit(main())
