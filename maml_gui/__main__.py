import sys

from maml_gui.cli import main

sys.exit(main())
