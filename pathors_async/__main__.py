"""``python -m pathors_async``: the same as the ``pathors-async`` command."""

import sys

from pathors_async.cli import main

sys.exit(main())
