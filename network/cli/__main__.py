"""`python -m network.cli`: the jinbao command."""

import sys

from network.cli import app

sys.exit(app())
