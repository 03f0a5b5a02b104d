"""``python -m minillm ...`` = the ``minillm`` command (also what ``torchrun -m minillm train`` runs)."""

import sys

from minillm.commands.cli import main

sys.exit(main())
